//! The HTTP API, one module per resource.

pub mod acl;
