//! Test fixture: a valid component that exports `fixture:other/thing`
//! instead of a `sluice:flow` world, so engine tests can check that the
//! host rejects it with a clear error at load.
//!
//! On native targets the crate is empty.

#[cfg(target_arch = "wasm32")]
#[expect(
    unsafe_code,
    reason = "the export! macro that wit-bindgen generates here defines the unsafe ABI exports"
)]
mod component {
    wit_bindgen::generate!({
        inline: "
            package fixture:other@0.1.0;

            interface thing {
                ping: func() -> string;
            }

            world other {
                export thing;
            }
        ",
        world: "other",
    });

    struct Thing;

    impl exports::fixture::other::thing::Guest for Thing {
        fn ping() -> String {
            "pong".to_string()
        }
    }

    export!(Thing);
}
