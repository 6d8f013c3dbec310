# Sourced by the serving benchmarks (not run alone): make_serving_repo BUILD
# SRC DIR trains the Fashion-MNIST MLP and CNN examples briefly (one epoch
# on 512 samples: weights do not change the cost of a prediction) and lays
# out the model repository DIR/repo with dynamic batching on (mlp, cnn:
# max_batch_size 64, queue delay 0) and off (mlp_nobatch, cnn_nobatch).
make_serving_repo() {
  build=$1 src=$2 work=$3
  for model in mlp cnn; do
    sed -e "s|^model: model.json|model: $src/examples/fashion_$model/model.json|" \
        -e "s|epochs: [0-9]*|epochs: 1|" \
        -e "s|path: \(/usr/share/datasets/fashion-mnist/[a-z0-9-]*\.gz\),|path: \1, limit: 512,|" \
        -e "s|y: \(/usr/share/datasets/fashion-mnist/[a-z0-9-]*\.gz\)|y: {path: \1, limit: 512}|" \
        "$src/examples/fashion_$model/job.yaml" > "$work/$model.yaml"
    "$build/client/fornax" train "$work/$model.yaml" --quiet --output "$work/$model.keras" >/dev/null
    for variant in "$model" "${model}_nobatch"; do
      mkdir -p "$work/repo/$variant/1"
      cp "$work/$model.keras" "$work/repo/$variant/1/model.keras"
    done
    echo '{"max_batch_size": 64}' > "$work/repo/$model/config.json"
    echo '{"max_batch_size": 64, "dynamic_batching": false}' > "$work/repo/${model}_nobatch/config.json"
  done
}
