# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The mirror host's WSGI application, run by gunicorn as the service's unprivileged user (codex.offline_ml
offline_mirror role). No HTTP code of ours: pypiserver answers the PEP 503 index (/simple/<project>/) and the wheels
(/packages/<file>); whitenoise answers every other file of the release, read-only, under /release/ (the Hugging Face
bundles and their manifests, manifest.json, its signature, SHA256SUMS, the locks and the SBOM).

The release is the one the store's `current` link names when the service starts, resolved once, so a switch never
shows a worker half of one release and half of the next: the role restarts the service after a switch.
"""

import os

from pypiserver import app as pypiserver_app
from whitenoise import WhiteNoise

ROOT = os.environ.get("CODEX_MIRROR_ROOT", "/srv/offline-mirror")
RELEASE = os.path.realpath(os.path.join(ROOT, "current"))

# Uploads stay refused: the default authenticate list covers them and there is no password file; the files are
# root's besides.
index = pypiserver_app(roots=[os.path.join(RELEASE, "wheels")], disable_fallback=True, password_file=None,
                       health_endpoint="/health")
app = WhiteNoise(index, root=RELEASE, prefix="release/", autorefresh=False, max_age=60)
