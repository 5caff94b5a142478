//! Flow documents for Sluice.
