//! Client-facing API codecs: request parsing into canonical form and event encoding.

pub mod claude;
