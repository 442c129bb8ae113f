fn main() {
    let a: Vec<String> = std::env::args().collect();
    let c = unival_export::Checkpoint::open(&a[1], unival_export::WeightsChoice::Model).unwrap();
    for k in c.weights.keys() {
        if k.contains(&a[2]) {
            println!(
                "{k} {:?} {:?}",
                c.weights.get(k).unwrap().shape(),
                c.weights.get(k).unwrap().dtype()
            );
        }
    }
}
