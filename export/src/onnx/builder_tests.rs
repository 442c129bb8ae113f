use super::*;

#[test]
fn if_else_moves_branch_nodes_into_bodies_that_read_outer_values_by_name() {
    let mut g = GraphBuilder::new("t", DType::F32);
    let x = g.input("x", DType::F32, vec![Dim::Fixed(3)]);
    let c = g.input("c", DType::Bool, vec![]);
    let y = g.if_else(
        "y",
        c,
        DType::F32,
        |g| {
            let two = g.float_const("two", &[], &[2.0]);
            g.node("Mul", "doubled", &[x, two], &[])
        },
        |_| x,
    );
    g.output("out", y, DType::F32, vec![Dim::Fixed(3)]);
    let graph = g.finish("test").graph.unwrap();
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops, ["If"]);
    let node = &graph.node[0];
    assert_eq!(
        (node.input.clone(), node.output.clone()),
        (vec!["c".into()], vec!["out".into()])
    );
    let body = |name: &str| {
        let a = node.attribute.iter().find(|a| a.name == name).unwrap();
        assert_eq!(a.r#type, attribute_type::GRAPH);
        a.g.clone().unwrap()
    };
    let then_b = body("then_branch");
    assert!(then_b.input.is_empty() && then_b.initializer.is_empty());
    assert_eq!(then_b.node.len(), 1);
    assert_eq!(then_b.node[0].input, ["x", "two"]);
    assert_eq!(then_b.output[0].name, then_b.node[0].output[0]);
    // The constant made inside the branch lives in the main graph.
    assert!(graph.initializer.iter().any(|t| t.name == "two"));
    // A branch returning an outer value gets its own Identity.
    let else_b = body("else_branch");
    assert_eq!(else_b.node[0].op_type, "Identity");
    assert_eq!(else_b.node[0].input, ["x"]);
    assert_eq!(else_b.output[0].name, else_b.node[0].output[0]);
    let elem = else_b.output[0]
        .r#type
        .as_ref()
        .unwrap()
        .tensor_type
        .as_ref()
        .unwrap();
    assert_eq!(
        (elem.elem_type, elem.shape.is_none()),
        (data_type::FLOAT, true)
    );
}
