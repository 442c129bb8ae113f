//! Shared helpers for the end-to-end tests: locating `../shared/oracle`, reading `.npy`.
