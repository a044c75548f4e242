//! `hb-bench` — **not implemented yet** (open issue: "hb-bench: latency histograms …").
//!
//! Until then, detection times are measured by the netns tests and the scripts in
//! `scripts/`, as the README describes.
