use crm_core::PhoneNumber;
#[test]
fn scratch() {
    let areas = [
        201u32, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225, 228, 229,
        231, 234, 239, 240, 248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270, 276, 281, 301, 302, 303, 304, 305,
        307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321, 323, 330, 334, 336, 337, 339, 347, 351,
        352, 360, 361, 385, 386, 401, 402, 404, 405, 406, 407, 408, 409, 410, 412, 413, 414, 415, 417, 419, 423, 425,
        430, 432, 434, 435, 440, 443, 469, 470, 478, 479, 480, 484, 501, 502, 503, 504, 505, 507, 508, 509, 510, 512,
        513, 515, 516, 517, 518, 520, 530, 540, 541, 551, 559, 561, 562, 563, 567, 570, 571, 573, 574, 580, 585, 586,
        601, 602, 603, 605, 606, 607, 608, 609, 610, 612, 614, 615, 616, 617, 618, 619, 620, 623, 626, 630, 631, 636,
        641, 646, 650, 651, 660, 661, 662, 678, 682, 701, 702, 703, 704, 706, 707, 708, 712, 713, 714, 715, 716, 717,
        718, 719, 720, 724, 727, 731, 732, 734, 740, 754, 757, 760, 763, 765, 770, 772, 773, 774, 775, 781, 785, 786,
        801, 802, 803, 804, 805, 806, 808, 810, 812, 813, 814, 815, 816, 817, 818, 828, 830, 831, 832, 843, 845, 847,
        848, 850, 856, 857, 858, 859, 860, 862, 863, 864, 865, 870, 901, 903, 904, 906, 907, 908, 909, 910, 912, 913,
        914, 915, 916, 917, 918, 919, 920, 925, 928, 931, 936, 937, 940, 941, 947, 949, 951, 952, 954, 956, 970, 971,
        972, 973, 978, 979, 980, 985, 989,
    ];
    let mut bad_areas = Vec::new();
    for a in areas {
        let mut bad = 0;
        for ex in 200..=999u32 {
            for sub in [0u32, 1234, 9999] {
                let s = format!("+1{a}{ex}{sub:04}");
                if PhoneNumber::parse(&s, None).is_err() {
                    bad += 1;
                }
            }
        }
        if bad > 0 {
            bad_areas.push((a, bad));
        }
    }
    println!("bad areas: {bad_areas:?}");
    let mut bad = 0;
    for n in 0..1000 {
        if PhoneNumber::parse(&format!("+4420 7946 {n:04}"), None).is_err() {
            bad += 1;
        }
    }
    println!("uk london bad {bad}");
    let mut bad = 0;
    for n in 0..1000 {
        if PhoneNumber::parse(&format!("+44 7700 900{n:03}"), None).is_err() {
            bad += 1;
        }
    }
    println!("uk mobile bad {bad}");
    let mut bad = 0;
    let mut ex = vec![];
    for n in (20_000_000u32..99_999_999).step_by(97_331) {
        if PhoneNumber::parse(&format!("+49 30 {n}"), None).is_err() {
            bad += 1;
            ex.push(n);
        }
    }
    println!("de 8-digit bad {bad} {:?}", &ex[..ex.len().min(5)]);
    let mut bad = 0;
    for n in (2_000_000u32..9_999_999).step_by(9_733) {
        if PhoneNumber::parse(&format!("+49 30 {n}"), None).is_err() {
            bad += 1;
        }
    }
    println!("de 7-digit bad {bad}");
    let mut bad = 0;
    for n in (0u32..99_999_999).step_by(99_733) {
        if PhoneNumber::parse(&format!("+49 151 {n:08}"), None).is_err() {
            bad += 1;
        }
    }
    println!("de mobile 151 bad {bad}");
    println!("{:?}", PhoneNumber::parse("030 12345678", Some("DE")));
    println!("{:?}", PhoneNumber::parse("(030) 1234-5678", Some("DE")));
    println!("{:?}", PhoneNumber::parse("0049 30 12345678", Some("DE")));
    println!("{:?}", PhoneNumber::parse("020 7946 0958", Some("GB")));
    println!("{:?}", PhoneNumber::parse("1-415-555-2671", Some("US")));
    println!("{:?}", PhoneNumber::parse("415.555.2671", Some("US")));
    println!("{:?}", PhoneNumber::parse("+1 (415) 555-2671", Some("DE")));
}
