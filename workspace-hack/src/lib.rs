//! No code: this crate exists for its `Cargo.toml`, which lists dependency features so that
//! the runtime's and the provisioner's builds compile every dependency exactly as the test
//! suite's build does (see the comment there).
