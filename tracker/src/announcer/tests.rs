use super::*;
use crate::{ServerConfig, TrackerCore};

fn cfg() -> AnnouncerConfig {
    let mut c = AnnouncerConfig::new(PeerId(*b"-FR0001-000000000000"), 6881, 42);
    c.udp.retransmit_base = Duration::from_millis(100);
    c
}

fn tiers(t: &[&[&str]]) -> Vec<Vec<String>> {
    t.iter()
        .map(|t| t.iter().map(|s| s.to_string()).collect())
        .collect()
}

fn http(a: &mut Announcer) -> (TrackerIdx, String) {
    match a.poll_action() {
        Some(TrackerAction::HttpGet { tracker, url }) => (tracker, url),
        other => panic!("expected an HTTP GET, got {other:?}"),
    }
}

const OK: &[u8] = b"d8:intervali100e12:min intervali10e5:peers6:\x7f\0\0\x01\x1a\xe1e";

#[test]
fn fall_through_promote_and_backoff() {
    let t0 = crate::test_epoch();
    let mut a = Announcer::new(
        InfoHashV1([1; 20]),
        tiers(&[
            &["http://a/announce", "http://b/announce"],
            &["http://c/announce"],
        ]),
        cfg(),
    );
    a.start(
        t0,
        Progress {
            left: 5,
            ..Default::default()
        },
    );
    let (t1, u1) = http(&mut a);
    assert!(
        u1.contains("event=started") && u1.contains("left=5"),
        "{u1}"
    );
    a.handle_http_response(t0, t1, Err("connection refused".into()));
    let (t2, u2) = http(&mut a);
    assert_ne!(t1, t2);
    assert!(u2.contains("event=started"));
    // A malformed reply is a tracker error, not a crash.
    a.handle_http_response(t0, t2, Ok(b"garbage"));
    let (t3, u3) = http(&mut a);
    assert!(u3.starts_with("http://c/announce?"));
    a.handle_http_response(t0, t3, Ok(OK));
    let evs: Vec<_> = std::iter::from_fn(|| a.poll_event()).collect();
    assert_eq!(evs.len(), 3);
    assert!(matches!(&evs[2], AnnouncerEvent::Announced { peers, .. } if peers.len() == 1));
    assert!(a.last_error(t1).is_some());
    assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_secs(100)));
    // Next round starts at tier 0 again (backoff 60 s has passed), without an event.
    let later = t0 + Duration::from_secs(100);
    a.handle_timeout(later);
    let (t4, u4) = http(&mut a);
    assert_eq!(t4, a.tiers()[0][0].0);
    assert!(!u4.contains("event="), "{u4}");
    // This time the second tracker of tier 0 answers and gets promoted.
    a.handle_http_response(later, t4, Err("x".into()));
    let (t5, _) = http(&mut a);
    a.handle_http_response(later, t5, Ok(OK));
    assert_eq!(a.tiers()[0][0].0, t5);
    // Backoff doubles: t4 failed twice... its first failure was at t0; second at `later`.
    let _ = std::iter::from_fn(|| a.poll_event()).count();
}

#[test]
fn all_fail_then_wait_for_backoff() {
    let t0 = crate::test_epoch();
    let mut a = Announcer::new(
        InfoHashV1([1; 20]),
        tiers(&[&["http://a/announce"], &["ftp://x"]]),
        cfg(),
    );
    a.start(t0, Progress::default());
    let (t, _) = http(&mut a);
    // HTTP timeout counts as a failure.
    assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    a.handle_timeout(t0 + Duration::from_secs(30));
    assert!(a.last_error(t).unwrap().contains("timed out"));
    assert!(a.poll_action().is_none());
    // ftp:// failed immediately; wake at the first backoff end.
    assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_secs(90)));
    a.handle_timeout(t0 + Duration::from_secs(90));
    let (_, url) = http(&mut a);
    assert!(url.contains("event=started"));
}

#[test]
fn completed_once_stopped_and_min_interval() {
    let t0 = crate::test_epoch();
    let mut a = Announcer::new(InfoHashV1([1; 20]), tiers(&[&["http://a/announce"]]), cfg());
    a.start(t0, Progress::default());
    let (t, _) = http(&mut a);
    a.handle_http_response(t0, t, Ok(OK));
    assert!(
        !a.reannounce(t0 + Duration::from_secs(5)),
        "min interval is 10 s"
    );
    let t1 = t0 + Duration::from_secs(20);
    a.completed(
        t1,
        Progress {
            left: 0,
            downloaded: 9,
            uploaded: 1,
        },
    );
    let (_, u) = http(&mut a);
    assert!(
        u.contains("event=completed") && u.contains("downloaded=9"),
        "{u}"
    );
    a.handle_http_response(t1, t, Ok(OK));
    a.completed(t1, Progress::default());
    assert!(a.poll_action().is_none(), "completed is sent once");
    assert!(a.reannounce(t1 + Duration::from_secs(10)));
    let (_, u) = http(&mut a);
    assert!(!u.contains("event="));
    a.handle_http_response(t1, t, Ok(OK));
    a.stop(t1, Progress::default());
    let (_, u) = http(&mut a);
    assert!(
        u.contains("event=stopped") && u.contains("numwant=0"),
        "{u}"
    );
    a.handle_http_response(t1, t, Ok(OK));
    assert!(std::iter::from_fn(|| a.poll_event()).any(|e| e == AnnouncerEvent::Stopped));
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn udp_tracker_through_core() {
    let t0 = crate::test_epoch();
    let mut core = TrackerCore::new(ServerConfig::default(), [3; 32], t0);
    let mut a = Announcer::new(
        InfoHashV1([1; 20]),
        tiers(&[&["udp://127.0.0.1:6969/announce"]]),
        cfg(),
    );
    a.start(
        t0,
        Progress {
            left: 1,
            ..Default::default()
        },
    );
    let me: SocketAddr = "127.0.0.1:5555".parse().unwrap();
    let mut out = Vec::new();
    let mut sent = 0;
    while let Some(act) = a.poll_action() {
        let TrackerAction::SendUdp {
            tracker,
            host,
            port,
            payload,
        } = act
        else {
            panic!()
        };
        assert_eq!((host.as_str(), port), ("127.0.0.1", 6969));
        sent += 1;
        if sent == 1 {
            // Drop the first connect: the retransmission timer fires.
            let d = a.poll_timeout().unwrap();
            a.handle_timeout(d);
            continue;
        }
        if core.handle_udp(t0, me, &payload, &mut out) {
            a.handle_udp_datagram(t0, tracker, &out);
        }
    }
    assert_eq!(sent, 3);
    let ev = a.poll_event().unwrap();
    assert!(
        matches!(
            ev,
            AnnouncerEvent::Announced {
                incomplete: Some(1),
                ..
            }
        ),
        "{ev:?}"
    );
    assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_secs(1800)));
}

#[test]
fn completed_and_stop_while_a_request_is_out() {
    let t0 = crate::test_epoch();
    let mut a = Announcer::new(InfoHashV1([1; 20]), tiers(&[&["http://a/announce"]]), cfg());
    a.start(t0, Progress::default());
    let (t, u) = http(&mut a);
    assert!(u.contains("event=started"));
    // `completed` while `started` is out: sent right after the answer.
    a.completed(t0, Progress::default());
    assert!(a.poll_action().is_none());
    a.handle_http_response(t0, t, Ok(OK));
    let (_, u) = http(&mut a);
    assert!(u.contains("event=completed"), "{u}");
    a.handle_http_response(t0, t, Ok(OK));
    // A regular announce is out when `stop` comes: `stopped` waits for its answer, so that
    // answer is not mistaken for the answer to `stopped`.
    let t1 = t0 + Duration::from_secs(100);
    a.handle_timeout(t1);
    let (_, u) = http(&mut a);
    assert!(!u.contains("event="), "{u}");
    a.stop(t1, Progress::default());
    assert!(a.poll_action().is_none());
    a.handle_http_response(t1, t, Ok(OK));
    let (_, u) = http(&mut a);
    assert!(u.contains("event=stopped"), "{u}");
    assert!(!std::iter::from_fn(|| a.poll_event()).any(|e| e == AnnouncerEvent::Stopped));
    a.handle_http_response(t1, t, Ok(OK));
    assert_eq!(
        a.poll_event(),
        Some(AnnouncerEvent::Announced {
            tracker: t,
            peers: vec!["127.0.0.1:6881".parse().unwrap()],
            complete: None,
            incomplete: None
        })
    );
    assert_eq!(a.poll_event(), Some(AnnouncerEvent::Stopped));
}
