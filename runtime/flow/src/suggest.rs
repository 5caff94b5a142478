//! "Did you mean" suggestions for misspelled names.

/// Returns the candidates close to `input`, closest first, at most three.
///
/// A candidate is close when its edit distance from `input` is at most a
/// third of the input's length (minimum 1), or when one contains the other
/// ignoring case.
pub(crate) fn closest<'a, I>(input: &str, candidates: I) -> Vec<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let input_lower = input.to_lowercase();
    let threshold = (input.chars().count() / 3).max(1);

    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter(|candidate| *candidate != input)
        .filter_map(|candidate| {
            let distance = edit_distance(&input_lower, &candidate.to_lowercase());
            let contains = !input.is_empty()
                && (candidate.to_lowercase().contains(&input_lower)
                    || input_lower.contains(&candidate.to_lowercase()));
            (distance <= threshold || contains).then_some((distance, candidate))
        })
        .collect();
    scored.sort();
    scored.dedup();
    scored
        .into_iter()
        .take(3)
        .map(|(_, candidate)| candidate)
        .collect()
}

/// Levenshtein distance counted in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("load-usr", "load-user"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn closest_orders_by_distance() {
        let names = [
            "builtin:load-user",
            "builtin:update-user",
            "builtin:condition",
        ];
        assert_eq!(
            closest("builtin:load-usr", names),
            vec!["builtin:load-user"]
        );
        assert!(closest("zzz", names).is_empty());
    }
}
