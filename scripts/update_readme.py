"""Regenerate the README's tables, the checkpoint cards and sample grids from the checkpoints themselves.

    python train.py evaluate checkpoints/ --write-meta --json leaderboard.json --markdown leaderboard.md
    python scripts/update_readme.py

Nothing in the zoo table is typed by hand: it is the evaluate command's output.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ganzoo import create_model, load  # noqa: E402
from ganzoo.cards import bar_checks, write_card  # noqa: E402
from ganzoo.checkpoint import count_params  # noqa: E402
from ganzoo.config import PRESETS, resolve  # noqa: E402
from ganzoo.images import grid, save_png, upscale  # noqa: E402
from ganzoo.latent import generate, sample_z  # noqa: E402
from ganzoo.leaderboard import markdown_table  # noqa: E402
from ganzoo.metrics import load_classifier  # noqa: E402


def replace(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)", re.S)
    return pattern.sub(lambda m: m.group(1) + body.rstrip() + "\n" + m.group(2), text)


def variants_table() -> str:
    rows = ["| variant | architecture | loss and settings | G params | D params |", "|---|---|---|---|---|"]
    for name, preset in PRESETS.items():
        mcfg, tcfg = resolve(name)
        G, D = create_model(mcfg)
        rows.append(f"| `{name}` | `{mcfg.arch}` | {preset.about} | {count_params(G):,} | {count_params(D):,} |")
    rows.append("")
    rows.append("Parameter counts at the presets' MNIST settings (28x28, width 32). At equal width and z_dim the "
                "separable DCGAN has fewer parameters than the DCGAN (`tests/test_models.py` checks it at widths "
                "8 to 64).")
    return "\n".join(rows)


def zoo_section(rows: list[dict]) -> str:
    out = ["Measured by `python train.py evaluate checkpoints/` (10,000 samples per model, CPU; "
           "`leaderboard.json`). *cFID / floor* is the model's classifier-FID over the real-data floor.", "",
           markdown_table(rows), ""]
    out.append("| checkpoint | samples (seeds 0-31) | card |")
    out.append("|---|---|---|")
    for path in sorted((ROOT / "checkpoints").glob("*.safetensors")):
        ckpt = load(path)
        img = ROOT / "docs" / "samples" / f"{path.stem}.png"
        img.parent.mkdir(parents=True, exist_ok=True)
        images = generate(ckpt.G, sample_z(list(range(32)), ckpt.cfg.z_dim))
        save_png(img, upscale(grid(images, nrow=16), 1 if ckpt.cfg.img_size >= 64 else 2))
        card = write_card(ckpt, path.with_suffix(".md"), path.stem)
        out.append(f"| `{path.name}` | ![{path.stem}](docs/samples/{img.name}) | "
                   f"[{card.name}](checkpoints/{card.name}) |")
    return "\n".join(out)


def bars_section() -> str:
    """Which shipped MNIST checkpoint meets which quality bar, from each one's stored evaluation."""
    rows = []
    for path in sorted((ROOT / "checkpoints").glob("*.safetensors")):
        checks = bar_checks(load(path))
        if checks:
            if not rows:
                rows += ["| checkpoint | " + " | ".join(bar for bar, _, _ in checks) + " |",
                         "|---|" + "---|" * len(checks)]
            rows.append(f"| `{path.stem}` | " + " | ".join(f"{v} {'yes' if ok else '**no**'}" for _, v, ok in checks)
                        + " |")
    return "\n".join(rows)


def classifier_section() -> str:
    lines = ["| classifier | classes | test accuracy | balanced accuracy | test cross-entropy | trained |",
             "|---|---|---|---|---|---|"]
    for path in sorted((ROOT / "checkpoints" / "classifiers").glob("*.safetensors")):
        m = load_classifier(path).meta
        filt = f", only {' + '.join(m['class_filter'])}" if m.get("class_filter") else ""
        shares = m.get("class_shares") or []
        unbalanced = shares and max(shares) > 1.5 * min(shares)
        classes = f"{len(m['classes'])}" + (" (" + ", ".join(f"{c} {s:.0%}" for c, s in zip(m["classes"], shares))
                                            + ")" if unbalanced else "")
        bal = m.get("test_balanced_accuracy")
        lines.append(f"| `{path.name}` ({m.get('dataset_key') or m['dataset']}{filt}, {m['n_test']:,} test images) | "
                     f"{classes} | {m['test_accuracy']:.2%} | {f'{bal:.2%}' if bal is not None else ''} | "
                     f"{m['test_cross_entropy']:.4f} | {m['epochs']} epochs, {m['wall_seconds']:.0f} s, "
                     f"{m['device']}{', bf16 autocast' if m.get('amp') else ''}"
                     f"{', class-weighted loss' if m.get('class_weighted_loss') else ''} |")
    lines.append("")
    for path in sorted((ROOT / "checkpoints" / "classifiers").glob("*.safetensors")):
        m = load_classifier(path).meta
        floor = m["floor"]
        lines.append(f"- Real-data floor of `{path.stem}` ({floor['n']:,} training images vs the test split): "
                     f"classifier-FID {floor['fid']:.3f}, KID {floor['kid']:.4f}, precision {floor['precision']:.3f}, "
                     f"recall {floor['recall']:.3f}, entropy {floor['entropy']:.4f}, coverage {floor['coverage']}, "
                     f"confidence {floor['confidence']:.3f}"
                     + (f", class KL {floor['kl_real']:.4f}" if floor.get("kl_real") is not None else "") + ".")
    return "\n".join(lines)


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    text = replace(text, "variants", variants_table())
    lb = ROOT / "leaderboard.json"
    if lb.exists():
        text = replace(text, "zoo", zoo_section(json.loads(lb.read_text())))
        text = replace(text, "bars", bars_section())
    text = replace(text, "classifier", classifier_section())
    readme.write_text(text)
    print("README.md updated")


if __name__ == "__main__":
    main()
