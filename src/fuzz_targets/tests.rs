//! Every input the fuzzers kept, replayed: `fuzz/corpus/<target>/` (seeds, inputs that reached
//! new code, fixed crashes) and `fuzz/artifacts/<target>/` (crashes not yet fixed, when there are
//! any), each through its target. A target without a corpus fails, so the corpus cannot vanish
//! unnoticed.

use std::path::{Path, PathBuf};

use super::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of a folder, sorted; empty when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable folder").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_kept_input_passes_its_target() {
    for (name, target) in TARGETS {
        let corpus = files(&fuzz_dir().join("corpus").join(name));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{name}/ is missing or empty: seed it (see bench/fuzz.sh)"
        );
        let artifacts = files(&fuzz_dir().join("artifacts").join(name));
        for path in corpus.iter().chain(&artifacts) {
            let data = std::fs::read(path).expect("a readable input");
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name} panics on {}", path.display());
        }
    }
}

#[test]
fn every_target_has_a_fuzzer_and_every_corpus_a_target() {
    for (name, _) in TARGETS {
        let binary = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(binary.is_file(), "{} is missing", binary.display());
    }
    for kind in ["corpus", "fuzz_targets"] {
        let entries = std::fs::read_dir(fuzz_dir().join(kind)).expect("the fuzz folder");
        for entry in entries {
            let path = entry.expect("a readable folder").path();
            let stem = path.file_stem().expect("a name").to_string_lossy();
            assert!(
                TARGETS.iter().any(|(name, _)| *name == stem),
                "{} belongs to no target in fuzz_targets::TARGETS",
                path.display()
            );
        }
    }
}

/// The signed requests among the seeds verify, so the fuzzer starts from the accepting paths too.
#[test]
fn the_signed_seeds_of_webhook_verify_pass_their_verifier() {
    let seeds = fuzz_dir().join("corpus/webhook_verify");
    for (seed, scheme) in [
        ("seed-webex-hmac-sha1", 4),
        ("seed-intersight-http-signature", 7),
        ("seed-standard-webhooks", 8),
    ] {
        let data = std::fs::read(seeds.join(seed)).expect("the seed");
        let (headers, body) = super::request(&data);
        let signed = crate::source::webhook::verify::Signed {
            method: "POST",
            path_and_query: "/hooks/fuzz?x=1",
            headers: &headers,
            body,
            now: super::now(),
        };
        assert_eq!(
            super::webhook::verifiers()[scheme].check_body(&signed),
            Ok(()),
            "{seed}"
        );
    }
}
