//! Deep merge of config documents: maps merge key by key, later scalars and lists win.

use super::yaml::{Node, Value};

/// Merges `over` into `base`.
pub fn merge(base: &mut Node, over: Node) {
    match (&mut base.value, over.value) {
        (Value::Map(b), Value::Map(o)) => {
            for (k, kp, v) in o {
                match b.iter_mut().find(|(bk, _, _)| *bk == k) {
                    Some((_, bkp, bv)) => {
                        *bkp = kp;
                        merge(bv, v);
                    }
                    None => b.push((k, kp, v)),
                }
            }
        }
        (_, other) => {
            base.value = other;
            base.pos = over.pos;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::yaml::parse;
    use super::*;

    #[test]
    fn maps_merge_and_later_scalars_and_lists_win() {
        let mut a = parse("a.yaml", "x:\n  keep: 1\n  over: 1\n  list: [1, 2]\ny: 1\n").unwrap();
        let b = parse("b.yaml", "x:\n  over: 2\n  list: [3]\n  new: 3\n").unwrap();
        merge(&mut a, b);
        assert_eq!(
            a.to_json(),
            serde_json::json!({"x": {"keep": 1, "over": 2, "list": [3], "new": 3}, "y": 1})
        );
        assert_eq!(
            &*a.get("x").unwrap().get("over").unwrap().pos.file,
            "b.yaml"
        );
        assert_eq!(
            &*a.get("x").unwrap().get("keep").unwrap().pos.file,
            "a.yaml"
        );
    }
}
