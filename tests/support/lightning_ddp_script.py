"""``python lightning_ddp_script.py REPO OUT``: the DDP fit ``test_lightning_ddp`` runs.

Lightning's ``ddp`` strategy starts the other rank by running this script again.
"""

import sys
from pathlib import Path

from lightning_models import fit_in_two_processes

if __name__ == "__main__":
    fit_in_two_processes(Path(sys.argv[1]), Path(sys.argv[2]), "ddp")
