use super::*;

#[test]
fn round_to_i64_matches_f64_round() {
    let mut x: u64 = 0xDEAD_BEEF_1234_5678;
    for _ in 0..100_000 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let v = ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 10f64.powi((x % 19) as i32);
        assert_eq!(round_to_i64(v), v.round() as i64, "{v}");
    }
    for v in [0.5, -0.5, 1.5, -1.5, 2.5, 0.49999999999999994, -0.49999999999999994, 4503599627370497.0, 8.9e18] {
        assert_eq!(round_to_i64(v), v.round() as i64, "{v}");
    }
}

#[test]
fn quantize_is_what_the_parser_reads_back() {
    let mut x: u64 = 42;
    for _ in 0..20_000 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let v = ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.3) * 5000.0;
        let decimals = (x % 5) as u32;
        let mut out = Vec::new();
        push_fixed(&mut out, v, decimals);
        let back: f64 = std::str::from_utf8(&out).unwrap().parse().unwrap();
        assert_eq!(
            back.to_bits(),
            quantize(v, decimals).to_bits(),
            "{v} {decimals} {:?}",
            String::from_utf8_lossy(&out)
        );
    }
}

#[test]
fn huge_values_take_the_slow_path_and_stay_finite_text() {
    let d = Detection::new(1, 2, 1e300, -1e19, 3.0, f64::MAX);
    let mut out = Vec::new();
    write_detection(&d, &WriteFormat { columns: 6, ..WriteFormat::default() }, &mut out);
    let text = String::from_utf8(out).unwrap();
    let back = crate::parse_line(text.trim_end().as_bytes()).unwrap();
    assert_eq!((back.left, back.top, back.width, back.height), (1e300, -1e19, 3.0, f64::MAX));
}

#[test]
fn layouts() {
    let d = Detection { conf: 0.5, class: 3, visibility: 0.25, ..Detection::new(12, -1, 1.005, 2.0, 3.5, 4.0) };
    let line = |format: WriteFormat| {
        let mut out = Vec::new();
        write_detection(&d, &format, &mut out);
        String::from_utf8(out).unwrap()
    };
    let f = WriteFormat::default();
    assert_eq!(line(WriteFormat { columns: 6, decimals: 0, ..f }), "12,-1,1,2,4,4\n");
    assert_eq!(
        line(WriteFormat { separator: Separator::CommaSpace, columns: 7, ..f }),
        "12, -1, 1.00, 2.00, 3.50, 4.00, 0.50\n"
    );
    assert_eq!(
        line(WriteFormat { separator: Separator::Tab, columns: 8, crlf: true, ..f }),
        "12\t-1\t1.00\t2.00\t3.50\t4.00\t0.50\t3\r\n"
    );
    assert_eq!(
        line(WriteFormat { separator: Separator::Space, columns: 10, decimals: 3, ..f }),
        "12 -1 1.005 2.000 3.500 4.000 0.500 -1 -1 -1\n"
    );
}

#[test]
fn digit_counts_and_in_place_digits() {
    let mut values = vec![0, 1, 9, 10, 99, 100, u64::MAX, u64::MAX / 10];
    for k in 1..20 {
        let p = 10u64.pow(k);
        values.extend([p - 1, p, p + 1]);
    }
    for v in values {
        let text = v.to_string();
        assert_eq!(digit_count(v), text.len(), "{v}");
        let mut dst = vec![0u8; text.len()];
        digits_rtl(&mut dst, v);
        assert_eq!(dst, text.as_bytes());
    }
}

#[test]
fn the_line_buffer_writes_what_the_vec_path_writes() {
    // A small deterministic LCG: random values, every decimals setting, both output paths.
    let mut x: u64 = 0x5EED_CAFE_F00D_1234;
    let mut next = || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        x >> 11
    };
    for _ in 0..20_000 {
        // Values from 1e-3 to 1e5 in magnitude, either sign.
        let f = |r: u64| {
            let v = (r >> 8) as f64 / (1u64 << 45) as f64 * 10f64.powi((r % 9) as i32 - 3);
            if r & 1 == 1 { -v } else { v }
        };
        let d = Detection {
            conf: f(next()),
            class: (next() % 5) as i64 - 1,
            visibility: f(next()),
            x: f(next()),
            y: f(next()),
            z: f(next()),
            ..Detection::new(next() % 100_000, (next() % 1000) as i64 - 1, f(next()), f(next()), f(next()), f(next()))
        };
        let format = WriteFormat {
            decimals: (next() % 10) as u8,
            columns: 6 + (next() % 5) as u8,
            separator: [Separator::Comma, Separator::CommaSpace, Separator::Space, Separator::Tab]
                [(next() % 4) as usize],
            crlf: next() % 2 == 0,
        };
        let mut fast = Vec::new();
        write_detection(&d, &format, &mut fast);
        let mut slow = Vec::new();
        write_fields(&d, &format, u32::from(format.decimals), &mut slow);
        assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(slow).unwrap(), "{d:?} {format:?}");
    }
}

#[test]
fn a_line_longer_than_the_stack_buffer_is_written_whole() {
    let v = 1_000_000_000.123_456_7;
    let d = Detection { conf: v, x: -v, y: v, z: -v, ..Detection::new(i64::MAX as u64, i64::MIN, v, -v, v, -v) };
    let format = WriteFormat { separator: Separator::CommaSpace, crlf: true, columns: 10, decimals: 9 };
    let mut out = b"previous line\n".to_vec();
    write_detection(&d, &format, &mut out);
    let line = std::str::from_utf8(&out[14..]).unwrap();
    assert!(line.len() > LINE_BUF, "{}", line.len());
    let fields: Vec<&str> = line.trim_end().split(", ").collect();
    assert_eq!(fields.len(), 10);
    assert_eq!((fields[0], fields[1]), (i64::MAX.to_string().as_str(), i64::MIN.to_string().as_str()));
    assert!(line.ends_with("\r\n"));
    let back = crate::parse_line(line.trim_end().as_bytes()).unwrap();
    assert_eq!((back.frame, back.id, back.left, back.z), (i64::MAX as u64, i64::MIN, quantize(v, 9), quantize(-v, 9)));
}
