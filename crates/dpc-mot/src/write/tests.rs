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
