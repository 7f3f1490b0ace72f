# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The only code sent to the venv's interpreter (through ``_child.run_function``): the functions that import
``huggingface_hub`` there and only there.

Private to the collection. Standard library only and free of collection imports (the source travels alone).

* ``child_seed``: lists each revision on the mirror and ``hf_hub_download``s what the shared cache lacks into the
  cache it is given. hf_cache_seed gives it a root-only private
  cache, never the shared one (docs/security.md): huggingface_hub writes by path and would follow a member's
  symlink; root then installs the result with ``_hf_layout.install_from_cache``.
* ``child_scan``: ``scan_cache_dir`` plus ``snapshot_download(local_files_only=True)`` for hf_cache_facts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time


def _progress(path, line):
    """Append LINE (with the time) to the progress file PATH, if any: hf_cache_seed's progress_log."""
    if not path:
        return
    with open(path, 'a') as handle:
        handle.write('%s %s\n' % (time.strftime('%H:%M:%S'), line))


def use_ca_bundle(ca_bundle):
    """Make every request huggingface_hub sends (the shared client of its get_session) verify the mirror's TLS
    certificate against CA_BUNDLE only, through huggingface_hub's own set_client_factory hook."""
    import ssl
    from huggingface_hub.utils import _http  # pylint: disable=import-error
    client_module = getattr(_http, 'httpx2', None) or getattr(_http, 'httpx')
    context = ssl.create_default_context(cafile=ca_bundle)
    base = _http.default_client_factory()
    hooks = dict((k, list(v)) for k, v in base.event_hooks.items())
    base.close()

    def factory():
        return client_module.Client(event_hooks=hooks, follow_redirects=True, timeout=None, verify=context)
    _http.set_client_factory(factory)


def child_seed(cache_dir, specs, umask=0o002, have=None, progress=None, ca_bundle=None):
    """Run in the venv's interpreter with HF_ENDPOINT / HF_TOKEN in its environment (the token never in argv or
    in the script), over TLS verified against CA_BUNDLE when one is given: for every spec, list the
    revision on the mirror (repo_info: commit and file names; a HEAD per selected file: size and ETag) and
    hf_hub_download into CACHE_DIR only the files whose blob (ETag, size) is not in HAVE[index] ({blob: size} of
    the shared cache). Returns [{index, commit, listing, files {name: {size, etag}}, downloaded [names]}]."""
    os.umask(umask)
    os.environ['HF_HUB_OFFLINE'] = '0'
    os.environ['HF_HUB_DISABLE_PROGRESS_BARS'] = '1'
    os.environ['HF_HUB_DISABLE_TELEMETRY'] = '1'
    if ca_bundle:
        use_ca_bundle(ca_bundle)
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download, hf_hub_url  # pylint: disable=import-error
    from huggingface_hub.utils import filter_repo_objects  # pylint: disable=import-error
    api = HfApi()
    out = []
    for index, spec in enumerate(specs):
        have_blobs = (have or [{}] * len(specs))[index] or {}
        info = api.repo_info(spec['repo_id'], repo_type=spec['repo_type'], revision=spec['revision'])
        commit = info.sha
        listing = sorted(s.rfilename for s in info.siblings or [])
        wanted = list(filter_repo_objects(listing, allow_patterns=spec['allow_patterns']))
        files = {}
        downloaded = []
        todo = []
        for name in wanted:
            meta = get_hf_file_metadata(hf_hub_url(spec['repo_id'], name, repo_type=spec['repo_type'],
                                                   revision=commit))
            files[name] = {'size': meta.size, 'etag': meta.etag}
            if have_blobs.get(meta.etag) != meta.size:
                todo.append(name)
        _progress(progress, '%s %s@%s (%s): %d of %d files to download' % (
            spec['repo_type'], spec['repo_id'], spec['revision'], commit, len(todo), len(wanted)))
        for number, name in enumerate(todo, 1):
            hf_hub_download(spec['repo_id'], name, repo_type=spec['repo_type'], revision=commit,
                            cache_dir=cache_dir)
            downloaded.append(name)
            _progress(progress, '  [%d/%d] %s (%s bytes)' % (number, len(todo), name, files[name]['size']))
        out.append({'index': index, 'commit': commit, 'listing': listing, 'files': files,
                    'downloaded': downloaded})
    _progress(progress, 'done')
    return out


def _mtime_iso(value):
    try:
        return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(value))
    except (TypeError, ValueError):
        return None


def child_scan(cache_dir, requested=None):
    """Run in the venv's interpreter: huggingface_hub.scan_cache_dir of CACHE_DIR, and for each requested
    spec whether it resolves offline (snapshot_download with local_files_only=True)."""
    os.environ['HF_HUB_OFFLINE'] = '1'
    os.environ['HF_HUB_DISABLE_TELEMETRY'] = '1'
    import huggingface_hub  # pylint: disable=import-error
    from huggingface_hub import scan_cache_dir, snapshot_download  # pylint: disable=import-error
    facts = {'cache_dir': cache_dir, 'exists': os.path.isdir(cache_dir), 'huggingface_hub_version':
             huggingface_hub.__version__, 'size_on_disk': 0, 'repos': [], 'warnings': [], 'incomplete_files': [],
             'requested': []}
    if facts['exists']:
        info = scan_cache_dir(cache_dir)
        facts['size_on_disk'] = info.size_on_disk
        facts['warnings'] = sorted(str(w) for w in info.warnings)
        facts['incomplete_files'] = sorted(str(getattr(f, 'file_path', f))
                                           for f in getattr(info, 'incomplete_files', None) or [])
        for repo in sorted(info.repos, key=lambda r: (r.repo_type, r.repo_id)):
            revisions = []
            refs = {}
            for rev in sorted(repo.revisions, key=lambda r: r.commit_hash):
                for ref in rev.refs:
                    refs[ref] = rev.commit_hash
                revisions.append({'commit': rev.commit_hash, 'refs': sorted(rev.refs),
                                  'size_on_disk': rev.size_on_disk, 'nb_files': rev.nb_files,
                                  'files': sorted(f.file_name for f in rev.files),
                                  'snapshot_path': str(rev.snapshot_path)})
            facts['repos'].append({'repo_id': repo.repo_id, 'repo_type': repo.repo_type,
                                   'repo_path': str(repo.repo_path), 'size_on_disk': repo.size_on_disk,
                                   'nb_files': repo.nb_files, 'refs': refs, 'revisions': revisions,
                                   'last_modified': _mtime_iso(repo.last_modified)})
    for spec in requested or []:
        entry = {'repo_id': spec['repo_id'], 'repo_type': spec['repo_type'], 'revision': spec['revision'],
                 'resolves_offline': False, 'commit': None, 'snapshot_path': None, 'error': None}
        for ref in spec.get('refs') or []:
            entry.setdefault('refs', {})[ref] = None
        try:
            path = snapshot_download(repo_id=spec['repo_id'], repo_type=spec['repo_type'],
                                     revision=spec['revision'], cache_dir=cache_dir, local_files_only=True,
                                     allow_patterns=spec.get('allow_patterns'))
            if not os.listdir(path):
                raise IOError('the snapshot %s is empty' % path)
            entry.update(resolves_offline=True, snapshot_path=str(path), commit=os.path.basename(str(path)))
        except Exception as exc:  # pylint: disable=broad-except
            entry['error'] = '%s: %s' % (type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc) else '')
        for ref in list(entry.get('refs', {})):
            try:
                path = snapshot_download(repo_id=spec['repo_id'], repo_type=spec['repo_type'], revision=ref,
                                         cache_dir=cache_dir, local_files_only=True,
                                         allow_patterns=spec.get('allow_patterns'))
                entry['refs'][ref] = os.path.basename(str(path))
            except Exception:  # pylint: disable=broad-except
                entry['refs'][ref] = None
        if entry['resolves_offline'] and any(v != entry['commit'] for v in entry.get('refs', {}).values()):
            entry['resolves_offline'] = False
            entry['error'] = 'refs %s do not resolve offline to %s' % (
                ', '.join(sorted(r for r, v in entry['refs'].items() if v != entry['commit'])), entry['commit'])
        facts['requested'].append(entry)
    return facts
