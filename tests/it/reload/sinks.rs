//! Sinks through a reload: started, restarted on another file, stopped, while the others deliver.

use reqwest::StatusCode;

use super::{Setup, names, read};
use crate::support::wait_until;

#[tokio::test]
async fn sinks_are_started_restarted_and_stopped_by_a_reload_and_the_others_keep_delivering() {
    let setup = Setup::start(&[0], "/hooks/a").await;
    let lines = |file: &str| {
        std::fs::read_to_string(setup.dir.path().join(file))
            .unwrap_or_default()
            .lines()
            .count()
    };
    setup.write_with_sinks(
        &[0],
        "/hooks/a",
        "",
        "  - { name: copy, type: file, path: copy.jsonl }\n",
    );
    let (status, report) = setup.reload().await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(names(&report["sinks"]["started"]), ["copy"]);
    assert_eq!(names(&report["sinks"]["kept"]), ["archive"]);
    assert_eq!(names(&report["sources"]["kept"]), ["hook", "leaf1"]);
    setup.prove_live(0, 1).await;
    wait_until("the new sink writes the event", || lines("copy.jsonl") >= 1).await;

    // The copy moves to another file: restarted; what comes next is written there.
    setup.write_with_sinks(
        &[0],
        "/hooks/a",
        "",
        "  - { name: copy, type: file, path: moved.jsonl }\n",
    );
    let (status, report) = setup.reload().await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(names(&report["sinks"]["restarted"]), ["copy"]);
    setup.prove_live(0, 2).await;
    wait_until("the restarted sink writes to its new file", || {
        lines("moved.jsonl") >= 1
    })
    .await;

    // Removed: stopped, gone from the API, and events still reach the sink that stays.
    setup.write(&[0], "/hooks/a", "");
    let (status, report) = setup.reload().await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(names(&report["sinks"]["stopped"]), ["copy"]);
    let (_, sinks) = read(setup.url("/api/v1/sinks")).await;
    let listed: Vec<&str> = sinks["sinks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sink| sink["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["archive"]);
    let moved = lines("moved.jsonl");
    setup.prove_live(0, 3).await;
    assert_eq!(
        lines("moved.jsonl"),
        moved,
        "the removed sink writes nothing more"
    );
    assert!(
        setup.gaps("leaf1").is_empty(),
        "the device session was never touched"
    );
    setup.stop().await;
}
