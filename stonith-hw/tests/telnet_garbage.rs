//! Every telnet-menu driver (`wti_nps`, `apcmaster`, `baytech`) against switches that answer
//! wrongly: garbage (telnet negotiation included) that never reaches a prompt, a dialog cut
//! off half-way, and a switch that drips one byte at a time. Each gives a clean error within
//! the operation's deadline: never a hang, never a panic.

use hb_stonith_hw::{registry, Action, Code, Params};
use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A switch that sends `reply` (slowly: one byte per `pace`) to every connection, then closes
/// it if `close`, or keeps it open and silent.
fn bad_switch(reply: Vec<u8>, pace: Duration, close: bool) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let reply = reply.clone();
            std::thread::spawn(move || {
                for b in &reply {
                    if c.write_all(&[*b]).is_err() {
                        return;
                    }
                    std::thread::sleep(pace);
                }
                if !close {
                    std::thread::sleep(Duration::from_secs(5));
                }
            });
        }
    });
    port
}

fn garbage() -> Vec<u8> {
    let mut g = vec![255, 251, 1, 255, 250, 24, 1, 2, 3];
    let mut x: u32 = 12345;
    for _ in 0..4000 {
        x = x.wrapping_mul(1103515245).wrapping_add(12345);
        let b = (x >> 16) as u8;
        g.push(if b == b'>' { b'x' } else { b });
    }
    g
}

/// A bad switch: what it is, what it sends, its pace, whether it closes, the codes allowed.
type Case = (&'static str, Vec<u8>, Duration, bool, &'static [Code]);

#[test]
fn garbage_cut_dialogs_and_dripping_switches_give_clean_errors() {
    let cases: [Case; 3] = [
        ("garbage", garbage(), Duration::ZERO, false, &[Code::Timeout]),
        ("cut off", b"\r\nUser Name : username> Enter Password: ".to_vec(), Duration::ZERO, true, &[Code::Oops, Code::Timeout]),
        (
            "dripping",
            b"\r\nThis switch is very slow to say anything at all\r\n".to_vec(),
            Duration::from_millis(20),
            false,
            &[Code::Timeout],
        ),
    ];
    for (what, reply, pace, close, codes) in cases {
        let port = bad_switch(reply, pace, close);
        for ty in ["wti_nps", "apcmaster", "baytech"] {
            let mut p = vec!["ipaddr=127.0.0.1".to_string(), format!("port={port}"), "password=x".into(), "hostmap=n:1".into()];
            if ty != "wti_nps" {
                p.push("login=a".into());
            }
            let p = Params::parse_pairs(&p.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
            let mut d = registry::open(ty, &p).unwrap();
            let start = Instant::now();
            let e = d.act(Action::Off, "n", Instant::now() + Duration::from_millis(700)).unwrap_err();
            assert!(codes.contains(&e.code), "{ty}, {what}: {e}");
            assert!(start.elapsed() < Duration::from_secs(2), "{ty}, {what}: took {:?}", start.elapsed());
            assert!(e.what.len() < 600, "{ty}, {what}: the error quotes a bounded tail: {e}");
        }
    }
}
