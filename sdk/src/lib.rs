//! Guest SDK for Sluice components.
