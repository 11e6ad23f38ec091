"""The training configuration: one dataclass (with the STFT, model and corruption configs nested in it), read
from recipes, from checkpoints (`config_from_dict`) and from the command line (`apply_overrides`; the options of
`speechdae train` are declared from the same fields by `add_setting_arguments`, so that argparse lists and checks
them, and their values still go through `apply_overrides`).

Every field is settable as `--key=value` or `--key value`, nested ones by a dotted path (`--model.code=96`,
`--corruption.p_babble=0.3`); dashes and underscores are the same (`--batch-size`). Values are parsed by the
field's declared type and refused with a one-line error when they do not fit or the key is unknown, so that a
variant of a recipe is a command line, not a new file.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field

from .corrupt import CorruptionConfig
from .errors import SpeechDAEError, first_line
from .model import ModelConfig
from .spectral import STFTConfig

VARIANTS = ("denoising", "plain", "sparse", "contractive")
SELECT_ON = ("si_sdr", "si_sdr_hp", "stoi", "pesq")  # pesq is scored on the first val_pesq_items items only
AMP = ("auto", "bf16", "off")
PATH_LISTS = ("speech", "noise", "val_noise")  # config keys holding lists of folders, files or manifests
ALIASES = {"time_limit": "time_limit_minutes"}  # the older, shorter flag names


@dataclass
class TrainConfig:
    speech: list = field(default_factory=list)  # folders, files or manifests of clean speech
    noise: list = field(default_factory=list)  # folders, files or manifests of noise recordings
    val_noise: list = field(default_factory=list)  # other noise for validation (default: the training noise)
    out: str = "runs/default"
    steps: int = 2000
    batch_size: int = 16
    segment_seconds: float = 2.0
    lr: float = 1e-3
    weight_decay: float = 1e-2
    warmup_steps: int = 100
    grad_clip: float = 5.0
    variant: str = "denoising"  # denoising | plain (no corruption) | sparse | contractive
    sparse_weight: float = 1e-3  # L1 on the code
    contractive_weight: float = 1e-3  # encoder Jacobian (Frobenius norm, by a random projection)
    complex_weight: float = 0.3  # share of the compressed complex loss vs compressed magnitude loss
    speech_weight: float = 2.0  # > 1 penalises removing speech more than leaving noise
    sisdr_weight: float = 0.0  # optional waveform SI-SDR term (negative dB, scaled by 1/100)
    stoi_weight: float = 0.0  # optional waveform STOI term (torch_stoi's differentiable STOI, negated)
    pesq_weight: float = 0.0  # optional waveform PESQ term (torch-pesq's P.862 distance; extra [pesq-loss])
    select_on: str = "si_sdr"  # picks best.pt: si_sdr | si_sdr_hp | stoi | pesq (needs val_pesq_items)
    ema_decay: float = 0.0  # > 0: validate and ship a moving average of the weights (e.g. 0.999), not the last step's
    checkpoint_every: int = 100
    val_every: int = 500
    val_fraction: float = 0.05  # file-level split of the speech files
    val_items: int = 24
    val_pesq_items: int = 4
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"  # auto: bf16 autocast where bf16 matrix products are faster (CUDA, CPUs with AMX) | bf16 | off
    threads: int = 0  # torch threads per process; 0: speechdae.threads' default (1, or OMP_NUM_THREADS)
    time_limit_minutes: float | None = None  # stop (with a checkpoint) after this long
    init_from: str | None = None  # fine-tune: start from this checkpoint's weights ("default": the bundled model)
    cache_dir: str | None = ".cache/audio"
    stft: STFTConfig = field(default_factory=STFTConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    corruption: CorruptionConfig = field(default_factory=CorruptionConfig)

    def __post_init__(self):
        if isinstance(self.amp, bool):  # checkpoints before speechdae 2 stored amp as a CUDA-only switch
            self.amp = "auto" if self.amp else "off"
        for name, value, choices in (("variant", self.variant, VARIANTS), ("select_on", self.select_on, SELECT_ON),
                                     ("amp", self.amp, AMP)):
            if value not in choices:
                raise SpeechDAEError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
        if self.select_on == "pesq" and self.val_pesq_items < self.val_items:
            raise SpeechDAEError("select_on=pesq needs val_pesq_items >= val_items (PESQ of a few items has misled)")


NESTED = {"stft": STFTConfig, "model": ModelConfig, "corruption": CorruptionConfig}


def config_from_dict(d: dict) -> TrainConfig:
    """Rebuild a TrainConfig from its asdict() form, refusing unknown or mistyped keys."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(d) - known
    if unknown:
        raise SpeechDAEError(f"unknown training config keys: {', '.join(sorted(unknown))}")
    kw = dict(d)
    for key in PATH_LISTS:
        if isinstance(kw.get(key), str):
            kw[key] = [kw[key]]
    for key, cls in NESTED.items():
        if isinstance(kw.get(key), dict):
            names = {f.name for f in dataclasses.fields(cls)}
            bad = set(kw[key]) - names
            if bad:
                raise SpeechDAEError(f"unknown {key} config keys: {', '.join(sorted(bad))}")
            kw[key] = cls(**kw[key])
    for f in dataclasses.fields(TrainConfig):  # catch mistyped values here, not deep inside training
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.name in kw and isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(kw[f.name], bool) or not isinstance(kw[f.name], (int, float)):
                raise SpeechDAEError(f"training config: {f.name} must be a number, got {kw[f.name]!r}")
    return TrainConfig(**kw)


def config_dict(cfg: TrainConfig) -> dict:
    d = dataclasses.asdict(cfg)
    for key in PATH_LISTS:
        d[key] = [str(p) for p in getattr(cfg, key)]
    return d


def _parse(text: str, kind, key: str):
    """One command-line value as the field's declared type (int, float, bool, str, optional, tuple, list)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):  # X | None
        if text.lower() in ("none", "null", ""):
            return None
        return _parse(text, next(a for a in args if a is not type(None)), key)
    if origin is tuple:
        items = [t for t in text.strip("()[] ").split(",") if t.strip()]
        types_ = [args[0]] * len(items) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(types_) != len(items):
            raise SpeechDAEError(f"--{key}: expected {len(types_)} comma-separated values, got {text!r}")
        return tuple(_parse(t.strip(), k, key) for t, k in zip(items, types_))
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise SpeechDAEError(f"--{key}: expected true or false, got {text!r}")
    try:
        return kind(text)
    except ValueError:
        raise SpeechDAEError(f"--{key}: expected {kind.__name__}, got {text!r}") from None


def _field(cfg, path: list[str], flag: str):
    """The dataclass holding the last key of `path`, and that key's declared type."""
    obj = cfg
    for name in path[:-1]:
        if name not in NESTED or obj is not cfg:
            raise SpeechDAEError(f"--{flag}: unknown setting (nested settings are {', '.join(NESTED)})")
        obj = getattr(obj, name)
    hints = typing.get_type_hints(type(obj))
    name = ALIASES.get(path[-1], path[-1]) if obj is cfg else path[-1]
    if name not in hints or (obj is cfg and name in NESTED):
        raise SpeechDAEError(f"--{flag}: unknown setting; see `speechdae train --help` or speechdae/config.py")
    return obj, name, hints[name]


def apply_overrides(cfg: TrainConfig, argv: list[str]) -> TrainConfig:
    """`--key=value`, `--key value` and `--list a b c` arguments applied to a copy of `cfg`."""
    groups: list[tuple[str, list[str]]] = []
    for arg in argv:
        if arg.startswith("--"):
            key, eq, value = arg[2:].partition("=")
            groups.append((key, [value] if eq else []))
        elif groups:
            groups[-1][1].append(arg)
        else:
            raise SpeechDAEError(f"unexpected argument {arg!r}; settings are given as --key=value")
    nested = {k: dataclasses.asdict(getattr(cfg, k)) for k in NESTED}
    top = {}
    for flag, values in groups:
        path = flag.replace("-", "_").split(".")
        obj, name, kind = _field(cfg, path, flag)
        if typing.get_origin(kind) is list or kind is list:
            parsed = list(values)
            if not parsed:
                raise SpeechDAEError(f"--{flag}: expected one or more values")
        else:
            if len(values) != 1:
                raise SpeechDAEError(f"--{flag}: expected one value, got {len(values)}")
            parsed = _parse(values[0], kind, flag)
        if obj is cfg:
            top[name] = parsed
        else:
            nested[path[0]][name] = parsed
    try:
        subs = {k: NESTED[k](**v) for k, v in nested.items()}
        return dataclasses.replace(cfg, **top, **subs)
    except (TypeError, ValueError) as e:
        raise SpeechDAEError(f"invalid setting: {first_line(e)}") from None


class _Setting(argparse.Action):
    """Keeps a setting as it was typed (`--flag value...`), in order, for apply_overrides to parse and check."""

    def __call__(self, parser, namespace, values, option_string=None):
        values = values if isinstance(values, list) else [values]
        namespace.settings = [*(getattr(namespace, "settings", None) or []), option_string, *values]


def add_setting_arguments(parser: argparse.ArgumentParser, cfg: TrainConfig | None = None):
    """Every field of TrainConfig (nested ones as --model.code ...) as an option of `parser`; what is given lands
    in `args.settings`, a list for apply_overrides, which parses each value by its field's type."""
    cfg = cfg or TrainConfig()
    parser.allow_abbrev = False  # --model would otherwise match --model.code, --step --steps
    parser.set_defaults(settings=[])
    group = parser.add_argument_group("settings (a recipe's own values replace these defaults)")
    fields = [(f.name, f.type, getattr(cfg, f.name)) for f in dataclasses.fields(cfg) if f.name not in NESTED]
    for key in NESTED:
        sub = getattr(cfg, key)
        fields += [(f"{key}.{f.name}", f.type, getattr(sub, f.name)) for f in dataclasses.fields(sub)]
    aliases = {v: k for k, v in ALIASES.items()}
    for name, kind, default in fields:
        names = [name.replace("_", "-"), name] + ([aliases[name].replace("_", "-")] if name in aliases else [])
        is_list = isinstance(default, list)
        group.add_argument(*dict.fromkeys(f"--{n}" for n in names), action=_Setting, dest="settings",
                           nargs="+" if is_list else None, default=argparse.SUPPRESS,
                           metavar="PATH" if is_list else "A,B,..." if str(kind).startswith("tuple") else
                           str(kind).upper(),
                           help=f"default: {default}")
