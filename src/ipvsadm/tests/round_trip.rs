//! `parse(to_restore(spec)) == spec` for every spec ipvsadm can express.

use proptest::prelude::*;

use crate::ipvsadm::{parse, to_restore};
use crate::model::arbitrary::kernel_spec;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn restore_text_reads_back_as_the_same_spec(spec in kernel_spec()) {
        let text = to_restore(&spec);
        let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(back, spec, "{}", text);
    }
}
