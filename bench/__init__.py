
from pathlib import Path as _Path

_ROOT = _Path(__file__).resolve().parents[1]
# the shared data sits next to the checkout (/work/shared beside /work/main), or one level up from a worktree
SHARED_DATA = next((p for p in (_ROOT.parent / "shared" / "data", _ROOT.parents[1] / "shared" / "data") if p.exists()),
                   _ROOT.parent / "shared" / "data")
