//! Tests of people, tokens and room membership.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::tests_cards::{ALICE, BOB, call, post_as, start_with_people};
use super::*;

async fn get_as(sim: &WebexSim, token: &str, path: &str) -> (StatusCode, Value) {
    let url = format!("{}{path}", sim.base_url());
    call(reqwest::Method::GET, url, Some(token), None).await
}

#[tokio::test]
async fn people_are_read_by_id_and_by_email_and_me_names_the_caller() {
    let (sim, _shutdown) = start_with_people().await;
    let (status, me) = get_as(&sim, ALICE, "/v1/people/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["emails"], json!(["alice@example.com"]));
    assert_eq!(me["displayName"], "Alice Example");
    assert_eq!(me["type"], "person");
    let id = me["id"].as_str().unwrap();
    assert_eq!(sim.person_id("alice@example.com").as_deref(), Some(id));
    let (status, person) = get_as(&sim, "sim-bot-token", &format!("/v1/people/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(person, me);
    let (_, bot) = get_as(&sim, "sim-bot-token", "/v1/people/me").await;
    assert_eq!(bot["type"], "bot");
    let (status, by_bot_id) = get_as(
        &sim,
        BOB,
        &format!("/v1/people/{}", bot["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_bot_id["emails"], bot["emails"]);
    let unknown = webex_id("PEOPLE", "00000000-0000-0000-0000-000000000000");
    let (status, answer) = get_as(&sim, ALICE, &format!("/v1/people/{unknown}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(answer["trackingId"].is_string());
    let (status, listed) = get_as(&sim, ALICE, "/v1/people?email=BOB@example.com").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["items"][0]["emails"][0], "bob@example.com");
    let (status, _) = get_as(&sim, ALICE, "/v1/people").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = get_as(&sim, "wrong", "/v1/people/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn membership_decides_the_rooms_a_person_sees_posts_in_and_reads() {
    let (sim, _shutdown) = start_with_people().await;
    let (noc, ops) = (sim.room_id("NOC").unwrap(), sim.room_id("Ops").unwrap());
    let (_, rooms) = get_as(&sim, BOB, "/v1/rooms").await;
    let titles: Vec<&Value> = rooms["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|room| &room["title"])
        .collect();
    assert_eq!(titles, [&json!("Ops")]);
    let (status, _) = post_as(
        &sim,
        BOB,
        "/v1/messages",
        json!({"roomId": noc, "text": "hi"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "Bob cannot post in NOC");
    let (status, _) = post_as(
        &sim,
        BOB,
        "/v1/messages",
        json!({"roomId": ops, "text": "hi"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get_as(&sim, BOB, &format!("/v1/messages?roomId={noc}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nor read it");
    let (_, created) = post_as(
        &sim,
        ALICE,
        "/v1/messages",
        json!({"roomId": noc, "text": "in NOC"}),
    )
    .await;
    let (status, _) = get_as(
        &sim,
        BOB,
        &format!("/v1/messages/{}", created["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, members) = get_as(&sim, ALICE, &format!("/v1/memberships?roomId={noc}")).await;
    assert_eq!(status, StatusCode::OK);
    let emails: Vec<&str> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["personEmail"].as_str().unwrap())
        .collect();
    assert_eq!(emails, [api::BOT_EMAIL, "alice@example.com"]);
    let (status, _) = get_as(&sim, BOB, &format!("/v1/memberships?roomId={noc}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn a_person_is_given_as_email_token_name_and_rooms() {
    let spec: PersonSpec = "carol@example.com:carol-token:Carol C:NOC, Ops"
        .parse()
        .unwrap();
    assert_eq!(
        spec,
        PersonSpec {
            email: "carol@example.com".to_owned(),
            token: "carol-token".to_owned(),
            display_name: Some("Carol C".to_owned()),
            rooms: vec!["NOC".to_owned(), "Ops".to_owned()],
        }
    );
    let short: PersonSpec = "dan@example.com:dan-token".parse().unwrap();
    assert_eq!((short.display_name, short.rooms), (None, vec![]));
    for wrong in ["dan@example.com", "no-at:token", "dan@example.com:"] {
        assert!(wrong.parse::<PersonSpec>().is_err(), "{wrong}");
    }
}

#[tokio::test]
async fn a_person_in_an_unknown_room_is_a_configuration_error() {
    let config = WebexSimConfig {
        people: vec!["carol@example.com:t:Carol:Nowhere".parse().unwrap()],
        ..WebexSimConfig::default()
    };
    let error = WebexSim::start(config, CancellationToken::new())
        .await
        .err()
        .unwrap();
    assert!(error.to_string().contains("Nowhere"), "{error}");
}
