use super::*;

fn kind(line: &str) -> LineErrorKind {
    parse_line(line.as_bytes()).expect_err(line)
}

#[test]
fn fast_float_matches_std_bit_for_bit() {
    let cases = [
        "0",
        "-0",
        "1",
        "1.",
        "0.1",
        "0.3",
        "123.456",
        "-912.75",
        "999999999999999",
        "0.000000000000001",
        "1.23456789012345",
        "1920.00",
        "+7.5",
        "2.675",
        "1e3",
        ".5",
        "1234567890123456789",
        "0.1234567890123456",
    ];
    for c in cases {
        let ours = parse_float(c.as_bytes(), 3).unwrap();
        let std: f64 = c.parse().unwrap();
        assert_eq!(ours.to_bits(), std.to_bits(), "{c}");
    }
}

#[test]
fn fast_float_random_decimals_match_std() {
    // A small deterministic LCG is enough to cover many shapes without a dev-dependency here.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..20_000 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let int = (x >> 20) % 100_000;
        let decimals = ((x >> 8) % 8) as usize;
        let frac = (x >> 40) % 10u64.pow(decimals as u32);
        let s = if decimals == 0 { format!("{int}") } else { format!("{int}.{frac:0decimals$}") };
        let s = if x & 1 == 1 { format!("-{s}") } else { s };
        let ours = parse_float(s.as_bytes(), 3).unwrap();
        assert_eq!(ours.to_bits(), s.parse::<f64>().unwrap().to_bits(), "{s}");
    }
}

#[test]
fn non_finite_and_garbage_are_invalid_numbers() {
    for bad in ["nan", "inf", "-inf", "1e999", "abc", "1.2.3", "--1", "", "\u{e9}"] {
        assert_eq!(parse_float(bad.as_bytes(), 4), Err(LineErrorKind::InvalidNumber { column: 4 }), "{bad}");
    }
}

#[test]
fn integers_accept_integral_floats_only() {
    assert_eq!(parse_int(b"12", 2), Ok(12));
    assert_eq!(parse_int(b"-1", 2), Ok(-1));
    assert_eq!(parse_int(b"12.0", 2), Ok(12));
    assert_eq!(parse_int(b"12.", 2), Ok(12));
    assert_eq!(parse_int(b"1.2e1", 2), Ok(12));
    assert_eq!(parse_int(b"12.5", 2), Err(LineErrorKind::NotAnInteger { column: 2 }));
    assert_eq!(parse_int(b"99999999999999999999", 2), Err(LineErrorKind::IntegerOverflow { column: 2 }));
    assert_eq!(parse_int(b"-9223372036854775808", 2), Ok(i64::MIN));
    assert_eq!(parse_int(b"9223372036854775808", 2), Err(LineErrorKind::IntegerOverflow { column: 2 }));
    assert_eq!(parse_int(b"1e30", 2), Err(LineErrorKind::IntegerOverflow { column: 2 }));
    assert_eq!(parse_int(b"x", 2), Err(LineErrorKind::InvalidNumber { column: 2 }));
}

#[test]
fn separators_and_columns() {
    let base = Detection::new(1, 2, 3.0, 4.0, 5.0, 6.0);
    assert_eq!(parse_line(b"1,2,3,4,5,6").unwrap(), base);
    assert_eq!(parse_line(b"  1 ,\t2, 3 ,4,5,6  \r").unwrap(), base);
    assert_eq!(parse_line(b"1 2\t3  4 5 6").unwrap(), base);
    let nine = parse_line(b"1,2,3,4,5,6,0.5,7,0.25").unwrap();
    assert_eq!((nine.conf, nine.class, nine.visibility, nine.x), (0.5, 7, 0.25, -1.0));
    let ten = parse_line(b"1,2,3,4,5,6,0.5,10,20,30").unwrap();
    assert_eq!((ten.conf, ten.class, ten.visibility, ten.x, ten.y, ten.z), (0.5, -1, -1.0, 10.0, 20.0, 30.0));
    assert_eq!(parse_line_columns(b"1,2,3,4,5,6,1,1").unwrap().1, 8);
}

#[test]
fn bad_lines_have_precise_kinds() {
    assert_eq!(kind("1,2,3,4,5"), LineErrorKind::TooFewColumns { found: 5 });
    assert_eq!(kind("1,2,3,4,5,6,7,8,9,10,11"), LineErrorKind::TooManyColumns { found: 11 });
    assert_eq!(kind("1,2,,4,5,6"), LineErrorKind::EmptyField { column: 3 });
    assert_eq!(kind(",1,2,3,4,5,6"), LineErrorKind::EmptyField { column: 1 });
    assert_eq!(kind("1,2,3,4,5,6,"), LineErrorKind::EmptyField { column: 7 });
    assert_eq!(kind("1,2,3,4,5,x"), LineErrorKind::InvalidNumber { column: 6 });
    assert_eq!(kind("1,2,3 4,5,6,7"), LineErrorKind::InvalidNumber { column: 3 });
    assert_eq!(kind("1 2 3 4,5 6"), LineErrorKind::InvalidNumber { column: 5 });
    assert_eq!(kind("1.5,2,3,4,5,6"), LineErrorKind::NotAnInteger { column: 1 });
    assert_eq!(kind("-3,2,3,4,5,6"), LineErrorKind::NegativeFrame);
    assert_eq!(kind("1,2,3,4,5,6,1,1.5,1"), LineErrorKind::NotAnInteger { column: 8 });
}

#[test]
fn frame_of_agrees_with_parse_line() {
    let lines = [
        "1,2,3,4,5,6",
        "  17 2 3 4 5 6",
        "3.0,1,1,1,1,1",
        "-1,1,1,1,1,1",
        "x,1,1,1,1,1",
        ",1",
        "",
        "  \r",
        "5",
        "5\r",
        "12.5,1,1,1,1,1",
        "99999999999999999999999,1,1,1,1,1",
        "1e1,1,1,1,1,1",
        "123456789012345678901,2,3,4,5,6",
    ];
    for l in lines {
        let full = parse_line(l.as_bytes());
        let quick = frame_of(l.as_bytes());
        match (full, quick) {
            (Ok(d), Ok(Some(f))) => assert_eq!(d.frame, f, "{l:?}"),
            (Err(_), Ok(None)) => assert!(is_blank(l.as_bytes()), "{l:?}"),
            (Err(LineErrorKind::TooFewColumns { .. }), _) => {}
            (Err(a), Err(b)) => assert_eq!(a, b, "{l:?}"),
            (a, b) => panic!("{l:?}: parse_line {a:?} but frame_of {b:?}"),
        }
    }
}

#[test]
fn fast_path_agrees_with_the_general_path() {
    let mut x: u64 = 0x1234_5678_9ABC_DEF1;
    let mut next = || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        x >> 16
    };
    let mut fast_hits = 0;
    for _ in 0..20_000 {
        let cols = 6 + (next() % 5) as usize;
        let sep = [",", " ", "\t", ", "][(next() % 4) as usize];
        let mut fields = Vec::new();
        for c in 0..cols {
            let r = next();
            let f = match (c, r % 7) {
                (0, 0) => format!("{}.0", r % 1000),
                (0, _) => format!("{}", r % 100_000),
                (1 | 7, 0) => "-1".to_string(),
                (_, 0) => format!("-{}.{}", r % 10_000, r % 100),
                (_, 1) => format!("{}", r % 100_000_000_000),
                (_, 2) => format!("{}.{:03}", r % 2000, r % 1000),
                (_, 3) => format!("{}.", r % 50),
                (_, 4) => format!("{}", r % 10),
                (_, 5) => format!("0.{}", r % 1_000_000_007),
                _ => format!("{}.{}", r % 123_456_789, r % 1_000_000),
            };
            fields.push(f);
        }
        let line = fields.join(sep) + if next() % 4 == 0 { "\r" } else { "" };
        let general = general_line(line.as_bytes());
        // Stream mode, as in a buffer of lines: the same answer, and the next line's start.
        let stripped = line.strip_suffix('\r').unwrap_or(&line);
        for ending in ["\n", "\r\n", ""] {
            let mut buf = format!("{stripped}{ending}").into_bytes();
            let next = buf.len();
            if !ending.is_empty() {
                // A next line, except at the end of the buffer (a last line without a line ending).
                buf.extend_from_slice(b"9,9,9,9,9,9\n");
            }
            let streamed = fast_fields::<true>(&buf, 0);
            assert_eq!(streamed.map(|(d, c, _)| (d, c)), fast_line(line.as_bytes()), "{line:?} {ending:?}");
            if let Some((_, _, n)) = streamed {
                assert_eq!(n, next, "{line:?}");
            }
        }
        if let Some(fast) = fast_line(line.as_bytes()) {
            fast_hits += 1;
            let general = general.unwrap_or_else(|e| panic!("{line:?}: fast path accepted, general {e:?}"));
            assert_eq!(fast.1, general.1, "{line:?}");
            let (a, b) = (fast.0, general.0);
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{line:?}");
            assert_eq!(a.left.to_bits(), b.left.to_bits());
        }
    }
    assert!(fast_hits > 5_000, "{fast_hits}");
}

#[test]
fn word_path_agrees_with_the_general_path() {
    let mut x: u64 = 0x0DDC_0FFE_E15E_A5E1;
    let mut next = || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        x >> 16
    };
    let mut hits = 0;
    for _ in 0..100_000 {
        let cols = 5 + (next() % 7) as usize;
        let sep = [",", " ", "\t", ",", ","][(next() % 5) as usize];
        // Half the lines draw only shapes the word path takes, the other half any shape.
        let shapes = if next() % 2 == 0 { 5 } else { 11 };
        let mut fields = Vec::new();
        for c in 0..cols {
            let r = next();
            let f = match (c, r % shapes) {
                (0, 0) => format!("{}.0", r % 1000),
                (0, 5) => format!("{}", r % 100_000_000),
                (0, _) => format!("{}", r % 10_000),
                (1 | 7, 0) => "-1".to_string(),
                (1, 1..=4) => format!("{}", r % 10u64.pow(1 + (r % 7) as u32)),
                (7, 1 | 2) => format!("{}.0", r % 100),
                (_, 0) => format!("-{}.{}", r % 10_000, r % 100),
                (_, 1) => format!("{}", r % 10_000_000),
                (_, 2) => format!("{}.{:02}", r % 2000, r % 100),
                (_, 3) => format!("{}.", r % 50),
                (_, 4) => format!("{}", r % 10),
                (_, 5) => format!("0.{}", r % 1_000_000_007),
                (_, 6) => ["", "-", ".", "1e2", "--1", "1.2.3", "+1", "1-"][(r % 8) as usize].to_string(),
                _ => format!("{}.{:02}", r % 10_000, r % 100),
            };
            fields.push(f);
        }
        let ending = ["\n", "\r\n", "\r\r\n", " \n"][(next() % 16).min(3) as usize];
        let line = fields.join(sep) + ending;
        // The word path needs a window of buffer after the line.
        let buf = format!("{line}{}", "1,1,1,1,1,1\n".repeat(12));
        let Some((d, cols, end)) = wide::line(buf.as_bytes(), 0) else { continue };
        hits += 1;
        // Alone in its buffer, the line goes through the padded window, with the same result.
        let alone = wide::line(line.as_bytes(), 0).unwrap_or_else(|| panic!("{line:?} alone"));
        assert_eq!(format!("{alone:?}"), format!("{:?}", (d, cols, end)), "{line:?}");
        assert_eq!(end, line.len(), "{line:?}");
        let content = line.trim_end_matches('\n');
        let (g, gcols) = general_line(content.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: general {e:?}"));
        assert_eq!(cols, gcols, "{line:?}");
        let bits =
            |d: &Detection| [d.left, d.top, d.width, d.height, d.conf, d.visibility, d.x, d.y, d.z].map(f64::to_bits);
        assert_eq!((d.frame, d.id, d.class, bits(&d)), (g.frame, g.id, g.class, bits(&g)), "{line:?}");
    }
    assert!(hits > 3_000, "{hits}");
}
