//! Low CPU priority for flows whose runs use a lot of CPU.
//!
//! Deadlines, fuel and memory caps bound each step. Still, a step that loops
//! until its deadline takes a whole core for that time, and a few of them at
//! once slow down every other flow on a two-core host. The
//! runtime measures the CPU time of each run. When a run of a flow uses more
//! than a threshold, later runs of that flow start on threads of the lowest
//! priority for a while, so under contention the scheduler gives the CPU to
//! other flows first. On an idle host those runs are as fast as before.
//!
//! Only Linux lowers the priority of a single thread; on other systems the
//! runs still get threads of their own, at normal priority.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Nice value of a low-priority thread, the lowest. It applies where the
/// `SCHED_IDLE` policy cannot be set.
#[cfg(target_os = "linux")]
const LOW_PRIORITY_NICE: i32 = 19;

/// Flows whose recent runs used more CPU than the threshold, by project and
/// flow id.
#[derive(Debug)]
pub struct HeavyFlows {
    /// CPU time of one run above which its flow is marked; `None` turns the
    /// marking off.
    threshold: Option<Duration>,
    /// How long a flow stays marked after its last run above the threshold.
    window: Duration,
    /// End of each marked flow's window, by project and then flow id, so a
    /// lookup borrows the ids instead of copying them.
    marked_until: Mutex<HashMap<String, HashMap<String, Instant>>>,
}

impl HeavyFlows {
    /// Creates an empty set that marks a flow for `window` after a run that
    /// used more than `threshold` of CPU time.
    pub fn new(threshold: Option<Duration>, window: Duration) -> Self {
        Self {
            threshold,
            window,
            marked_until: Mutex::new(HashMap::new()),
        }
    }

    /// Returns whether runs are measured and marked at all.
    pub fn is_enabled(&self) -> bool {
        self.threshold.is_some()
    }

    /// Records the CPU time of a finished run of `flow_id` and marks the flow
    /// when the time is above the threshold.
    pub fn observe(&self, project: &str, flow_id: &str, cpu: Duration) {
        let Some(threshold) = self.threshold else {
            return;
        };
        if cpu <= threshold {
            return;
        }
        let until = Instant::now() + self.window;
        let newly_marked = self
            .lock()
            .entry(project.to_owned())
            .or_default()
            .insert(flow_id.to_owned(), until)
            .is_none();
        if newly_marked {
            tracing::info!(
                project.id = %project,
                flow.id = %flow_id,
                cpu_ms = cpu.as_millis(),
                threshold_ms = threshold.as_millis(),
                window_s = self.window.as_secs(),
                "A run used more CPU than the threshold, so the flow's next runs get low CPU priority"
            );
        }
    }

    /// Returns whether runs of `flow_id` start at low priority now. A mark
    /// whose window has passed is removed here.
    pub fn is_heavy(&self, project: &str, flow_id: &str) -> bool {
        if self.threshold.is_none() {
            return false;
        }
        let mut marked = self.lock();
        let Some(flows) = marked.get_mut(project) else {
            return false;
        };
        match flows.get(flow_id) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                flows.remove(flow_id);
                if flows.is_empty() {
                    marked.remove(project);
                }
                false
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<String, Instant>>> {
        self.marked_until.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Returns the CPU time the calling thread has used so far.
pub fn thread_cpu_time() -> Duration {
    #[cfg(unix)]
    {
        let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        let seconds = u64::try_from(time.tv_sec).unwrap_or(0);
        let nanos = u32::try_from(time.tv_nsec).unwrap_or(0);
        Duration::new(seconds, nanos)
    }
    #[cfg(not(unix))]
    {
        Duration::ZERO
    }
}

/// Runs `work` on a new thread of the lowest CPU priority and returns its
/// result.
///
/// # Errors
///
/// Fails when the thread cannot start, or when `work` panics.
pub async fn run_low_priority<T, F>(work: F) -> std::io::Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (sender, receiver) = tokio::sync::oneshot::channel();
    // The thread enters the caller's tokio runtime, as threads of tokio's
    // blocking pool do, so the futures of outgoing HTTP requests run there.
    let runtime = tokio::runtime::Handle::try_current().ok();
    std::thread::Builder::new()
        .name("sluice-low-priority".to_owned())
        .spawn(move || {
            let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
            lower_current_thread_priority();
            let _ = sender.send(work());
        })?;
    receiver
        .await
        .map_err(|_| std::io::Error::other("the low-priority thread of the run panicked"))
}

/// Lowers the CPU priority of the calling thread, where the system allows
/// one thread's priority to change. An unprivileged thread cannot raise it
/// again, which is why [`run_low_priority`] starts a thread for each run.
fn lower_current_thread_priority() {
    // On Linux the nice value and the scheduling policy belong to the
    // thread, so `None` and pid 0 (the caller) change only this thread.
    #[cfg(target_os = "linux")]
    {
        if let Err(err) = rustix::process::setpriority_process(None, LOW_PRIORITY_NICE) {
            tracing::warn!(error = %err, "Failed to lower the nice value of a low-priority run thread");
        }
        // SCHED_IDLE ranks below nice 19: a waking thread of the normal
        // policy preempts it at once, and the scheduler counts a core that
        // runs only such threads as idle. Without it, nice 19 still applies.
        if let Err(err) = set_idle_policy() {
            tracing::debug!(error = %err, "SCHED_IDLE is not available; the run thread keeps nice 19");
        }
    }
}

/// Moves the calling thread to the `SCHED_IDLE` scheduling policy.
#[cfg(target_os = "linux")]
fn set_idle_policy() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    #[expect(unsafe_code, reason = "sched_setscheduler has no safe wrapper in libc or rustix")]
    // SAFETY: `param` is a valid `sched_param` that lives through the call,
    // and pid 0 names the calling thread, so no other memory is touched.
    let result = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &raw const param) };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_marked_above_threshold_only() {
        let flows = HeavyFlows::new(Some(Duration::from_millis(100)), Duration::from_secs(60));
        flows.observe("P1", "light", Duration::from_millis(100));
        flows.observe("P1", "heavy", Duration::from_millis(101));

        assert!(!flows.is_heavy("P1", "light"));
        assert!(flows.is_heavy("P1", "heavy"));
        assert!(!flows.is_heavy("P2", "heavy"), "a mark belongs to one project");
    }

    #[test]
    fn mark_expires_after_window() {
        let flows = HeavyFlows::new(Some(Duration::from_millis(1)), Duration::ZERO);
        flows.observe("P1", "heavy", Duration::from_millis(5));

        assert!(!flows.is_heavy("P1", "heavy"));
        assert!(flows.lock().is_empty(), "the expired mark is removed");
    }

    #[test]
    fn no_threshold_marks_nothing() {
        let flows = HeavyFlows::new(None, Duration::from_secs(60));
        flows.observe("P1", "heavy", Duration::from_secs(10));

        assert!(!flows.is_heavy("P1", "heavy"));
    }

    #[test]
    fn thread_cpu_time_grows_with_work() {
        let before = thread_cpu_time();
        let mut sum = 0_u64;
        for value in 0..5_000_000_u64 {
            sum = sum.wrapping_add(std::hint::black_box(value));
        }
        std::hint::black_box(sum);

        assert!(thread_cpu_time() > before);
    }

    /// Returns the scheduling policy of the calling thread, read from field
    /// 41 of `/proc/thread-self/stat`.
    #[cfg(target_os = "linux")]
    fn scheduling_policy() -> Option<i32> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
        // Field 2, the command name, is in parentheses and may hold spaces,
        // so the count starts after its closing parenthesis, at field 3.
        let (_, rest) = stat.rsplit_once(')')?;
        rest.split_whitespace().nth(41 - 3)?.parse().ok()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn low_priority_thread_is_idle_class() {
        let caller_before = rustix::process::getpriority_process(None).expect("getpriority");
        let nice = run_low_priority(|| rustix::process::getpriority_process(None))
            .await
            .expect("the thread ran")
            .expect("getpriority");

        assert_eq!(nice, LOW_PRIORITY_NICE);
        let in_runtime = run_low_priority(|| tokio::runtime::Handle::try_current().is_ok())
            .await
            .expect("the thread ran");
        assert!(in_runtime, "the thread enters the caller's tokio runtime");
        let policy = run_low_priority(scheduling_policy).await.expect("the thread ran");
        assert_eq!(policy, Some(libc::SCHED_IDLE));
        assert_eq!(
            rustix::process::getpriority_process(None).expect("getpriority"),
            caller_before,
            "the calling thread keeps its priority"
        );
    }
}
