//! The neutral domain model: what attachd knows about an attachment, whichever API received
//! it and whichever backend keeps it.
//!
//! Nothing here names a vendor's fields, a RocksDB type or an HTTP type. Each front end maps
//! its wire fields onto these types (seed 000's `client_event_id`, `event_id` and `issue_id`
//! are [`ParentRef`]s; its `user_id` is the [`Attachment::owner`]); each backend stores them.
//! The lifecycle: *pending* (reserved, no bytes yet) → *uploaded* (bytes durable at a
//! [`Location`]) → *deleted* (soft-deleted; bytes kept until reclaimed), with the record gone
//! once reclaimed. Pending reservations that lapse are dropped whole.

mod attachment;
pub mod codec;
pub mod control;
pub mod example;
mod listing;
pub mod mime;
mod notice;
mod parts;

pub use attachment::{Attachment, Location};
pub use listing::{After, Counter, Pending, TimelineRow};
pub use notice::{FileEvent, Notice, UploadPolicy, Webhook};
pub use parts::{
    Digests, MAX_TOKEN_ID, Md5Digest, Metadata, ParentId, ParentKind, ParentRef, Retention, ScanState, is_token_id,
};
