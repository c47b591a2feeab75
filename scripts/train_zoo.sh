#!/usr/bin/env bash
# Reproduces the shipped checkpoints: trains every preset, then exports each run's best epoch
# (by classifier-FID) into checkpoints/. Usage: scripts/train_zoo.sh DATA_ROOT STREAM
#   DATA_ROOT holds mnist/ (IDX files) and emoji/ (image folders); STREAM is a, b or c
#   (three lists that can run side by side, one CPU thread each), optionally followed by a comma-separated
#   list of names to run from that stream. A run stopped early with Ctrl-C still saves and is exported.
set -euo pipefail
data=${1:?usage: scripts/train_zoo.sh DATA_ROOT STREAM}
stream=${2:?usage: scripts/train_zoo.sh DATA_ROOT STREAM}
py=${PYTHON:-python}
common=(--dataset mnist --data-dir "$data/mnist" --ema 0.999 --quiet --num-workers "${THREADS:-1}")
amp=(--amp)  # bf16 autocast: ~2x faster conv training on this CPU (ganzoo.fastconv keeps depthwise convs in fp32)
emoji=(--dataset folder --data-dir "$data/emoji" --class-filter smileys-and-emotion,people-and-body
       --img-size 64 --amp --ema 0.999 --quiet --num-workers "${THREADS:-1}" --eval-every 0)

run() {  # run NAME ARGS...: train, then export the best (or last) epoch with the command in its card
  # LATER="ARGS...": a second phase that resumes the run with these arguments added (say a lower learning rate
  # and more --epochs); settings given on --resume take effect and are logged.
  local name=$1; shift
  local out=runs/zoo/$name
  if [ -z "${EXPORT_ONLY:-}" ]; then  # EXPORT_ONLY=1: re-export finished runs without training
    rm -rf "$out"
    $py train.py "$@" --out "$out" 2>&1 | grep -v Warning | tee "runs/zoo/$name.log"
    if [ -n "${LATER:-}" ]; then
      # shellcheck disable=SC2086
      $py train.py "$@" $LATER --resume "$out/latest.safetensors" --out "$out" 2>&1 | grep -v Warning \
        | tee -a "runs/zoo/$name.log"
    fi
  fi
  local src=$out/best.safetensors
  [ -f "$src" ] || src=$out/latest.safetensors
  $py train.py export "$src" "checkpoints/$name.safetensors" --sampling-only --fit-mb 9.5 \
    --note "python train.py $*${LATER:+, then resumed with $LATER}"
}
mkdir -p runs/zoo
only=${3:-}  # optional: run just these names (comma-separated) of the stream
run_if() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]] && run "$@" || true; }
case $stream in
  a)
    # The shipped DCGAN is width 64 (classifier-FID 18.4 vs 19.4 for the preset's width 32 after 8 epochs).
    # The shipped runs were trained in stages with --resume (same flags, more --epochs; resume is exact,
    # tests/test_training.py) and stopped with Ctrl-C at the epochs below; each card lists its stages.
    run_if dcgan --variant dcgan --width 64 --epochs 45 "${common[@]}" "${amp[@]}"
    run_if sngan --variant sngan --epochs 81 "${common[@]}" "${amp[@]}"
    run_if sagan --variant sagan --epochs 45 "${common[@]}" "${amp[@]}"
    # 18 epochs at the preset's 2e-4, then 2 at 1e-4 (the best epoch, 15, is from the first phase).
    LATER="--epochs 20 --lr-g 1e-4 --lr-d 1e-4" run_if stylegan --variant stylegan --epochs 18 "${common[@]}" "${amp[@]}"
    ;;
  b)
    # The preset has dropout 0.3 in D. 71 epochs at 2e-4, then 1e-4 (the shipped run switched 0.5 epoch later,
    # at step 67019, where it had been stopped).
    LATER="--epochs 85 --lr-g 1e-4 --lr-d 1e-4" run_if mlp_gan --variant mlp_gan --epochs 71 "${common[@]}" "${amp[@]}"
    # Width 64, fp32 as shipped: depthwise convolutions then ran 3.6x slower under bf16 autocast (no longer);
    # stopped after 12 epochs.
    run_if dcgan_separable --variant dcgan_separable --width 64 --epochs 12 "${common[@]}"
    # The preset's critic has BatchNorm (--d-norm batch).
    run_if wgan --variant wgan --epochs 63 "${common[@]}" "${amp[@]}"
    run_if wgan_gp --variant wgan_gp --epochs 64 "${common[@]}" "${amp[@]}"
    ;;
  c)
    run_if emoji_dcgan --variant dcgan --epochs 60 "${emoji[@]}"
    run_if emoji_stylegan --variant stylegan --epochs 15 "${emoji[@]}"
    ;;
esac
