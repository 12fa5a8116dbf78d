//! Webhook receivers, one module per provider.
//!
//! Each provider module is a pure core: it turns the body of one request into a typed document and
//! the document into a normalized [`Event`](crate::event::Event), with no IO. The HTTP layer that
//! verifies requests (authentication, size limits) and hands the verified body to these functions
//! comes later.

pub mod sdwan;
