//! Entry points for the fuzzers under `fuzz/` and for the test that replays their kept corpus:
//! each takes arbitrary bytes and feeds them to one parser or normalizer. Not part of the API.
