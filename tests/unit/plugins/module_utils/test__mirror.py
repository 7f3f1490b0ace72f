# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_mirror: pins, locks, wheel tags, URL redaction, and listings read from real servers on 127.0.0.1."""

from __future__ import absolute_import, division, print_function

import hashlib
import platform
import sys
from urllib.request import urlopen

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _mirror
from ansible_collections.codex.offline_ml.plugins.module_utils._mirror import MirrorError

H1 = '1' * 64
H2 = 'ab' * 32
H3 = 'c' * 64

X86 = 'x86_64'
TAGS_311_228 = _mirror.supported_tags(3, 11, X86, (2, 28))
HOST_311 = {'python_tag': 'cp311', 'platform_tag': 'manylinux_2_28_x86_64'}

# Wheel file names of the listing tests; the torch ones are empty zip files named like the real ones.
ALPHA = 'alpha-1.0-py3-none-any.whl'
BETA = 'beta-2.0+local-py3-none-any.whl'
TORCH_311 = 'torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl'
TORCH_312 = 'torch-2.13.0+cpu-cp312-cp312-manylinux_2_28_x86_64.whl'
MARKUPSAFE = 'markupsafe-3.0.4-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl'


def raises(kind, func, *args, **kwargs):
    with pytest.raises(MirrorError) as info:
        func(*args, **kwargs)
    assert info.value.kind == kind, info.value.msg
    assert str(info.value) == info.value.msg
    return info.value


# --------------------------------------------------------------------------- pins
@pytest.mark.parametrize('text, expected', [
    ('torch==2.13.0+cpu', ('torch', '2.13.0+cpu')),
    ('  Typing_Extensions == 4.16.0 ', ('typing-extensions', '4.16.0')),
    ('Jinja2==3.1.6', ('jinja2', '3.1.6')),
    ('zope.interface==7.0!1.post1', ('zope-interface', '7.0!1.post1')),
])
def test_parse_pin(text, expected):
    assert _mirror.parse_pin(text) == expected


@pytest.mark.parametrize('text', ['torch', 'torch>=2.13', 'torch==', '==2.13', 'torch==2.*', 'torch===2.13',
                                  'torch==2.13 ; python_version > "3"', 'torch 2.13', '', None,
                                  'torch==2.13,<3', '-e torch==2.13'])
def test_parse_pin_rejects(text):
    error = raises('invalid_pin', _mirror.parse_pin, text)
    assert repr(text) in error.msg and 'name==version' in error.msg


# --------------------------------------------------------------------------- locks
LOCK = '''# Hash-pinned lock, a header comment
#   even an indented comment

Alpha==1.0 \\
    --hash=sha256:%s \\
    --hash=sha256:%s
beta==2.0+local --hash=sha256:%s  # trailing comment
typing_extensions==4.16.0 ; python_version >= "3.8" \\
    --hash=sha256:%s
''' % (H1, H2.upper(), H3, H1)


def test_parse_lock():
    assert _mirror.parse_lock(LOCK) == {
        'alpha': {'version': '1.0', 'hashes': [H1, H2]},
        'beta': {'version': '2.0+local', 'hashes': [H3]},
        'typing-extensions': {'version': '4.16.0', 'hashes': [H1]},
    }


def test_parse_lock_continuation_at_end_of_file():
    assert _mirror.parse_lock('alpha==1.0 \\\n    --hash=sha256:%s \\\n' % H1) == {
        'alpha': {'version': '1.0', 'hashes': [H1]}}


@pytest.mark.parametrize('text, words', [
    ('alpha==1.0\n', ['alpha==1.0', 'no --hash=sha256']),
    ('alpha==1.0 --hash=sha512:%s\n' % ('f' * 128), ['alpha==1.0', 'no --hash=sha256']),
    ('alpha==1.0 --hash=sha256:abc\n', ['alpha==1.0', 'no --hash=sha256']),
    ('beta==2.0 --hash=sha256:%s\nalpha==1.0 \\\n  # just a comment\n' % H1, ['alpha==1.0', 'no --hash']),
    ('--index-url http://mirror.lab/simple/\nalpha==1.0 --hash=sha256:%s\n' % H1, ['--index-url', 'options']),
    ('-e .\n', ['-e .', 'options are not allowed']),
    ('--hash=sha256:%s\n' % H1, ['options are not allowed']),
    ('# only comments\n\n', ['the lock is empty']),
    ('', ['the lock is empty']),
])
def test_parse_lock_rejects(text, words):
    error = raises('invalid_lock', _mirror.parse_lock, text)
    for word in words:
        assert word in error.msg


def test_parse_lock_bad_pin_is_invalid_pin():
    error = raises('invalid_pin', _mirror.parse_lock, 'alpha>=1.0 --hash=sha256:%s\n' % H1)
    assert 'alpha>=1.0' in error.msg


def test_render_lock_round_trip():
    entries = {'beta': {'version': '2.0+local', 'hashes': [H3]},
               'alpha': {'version': '1.0', 'hashes': [H2, H1]}}
    text = _mirror.render_lock(entries, header=['written by the test', 'second line'])
    assert text == ('# written by the test\n# second line\n'
                    'alpha==1.0 \\\n    --hash=sha256:%s \\\n    --hash=sha256:%s\n'
                    'beta==2.0+local \\\n    --hash=sha256:%s\n' % (H1, H2, H3))
    parsed = _mirror.parse_lock(text)
    assert parsed == {'alpha': {'version': '1.0', 'hashes': [H1, H2]}, 'beta': {'version': '2.0+local', 'hashes': [H3]}}
    assert _mirror.render_lock(parsed, header=['written by the test', 'second line']) == text
    assert _mirror.render_lock(parsed) == text.split('\n', 2)[2]


def test_wanted_set_without_lock():
    assert _mirror.wanted_set(['Torch==2.13.0+cpu', 'uv==0.13.9'], None) == (
        {'torch': '2.13.0+cpu', 'uv': '0.13.9'}, None)
    assert _mirror.wanted_set([], '') == ({}, None)


def test_wanted_set_with_lock_is_the_whole_lock():
    wanted, lock = _mirror.wanted_set(['ALPHA==1.0', 'typing-extensions==4.16.0'], LOCK)
    assert wanted == {'alpha': '1.0', 'beta': '2.0+local', 'typing-extensions': '4.16.0'}
    assert lock == _mirror.parse_lock(LOCK)
    assert _mirror.wanted_set([], LOCK)[0] == wanted


def test_wanted_set_pin_not_in_lock():
    error = raises('lock_mismatch', _mirror.wanted_set, ['alpha==1.0', 'gamma==3.0'], LOCK)
    assert error.details['package'] == 'gamma'
    assert 'gamma==3.0 is requested but the lock does not pin gamma' in error.msg
    assert 'stage_wheels.yml' in error.msg


def test_wanted_set_pin_disagrees_with_lock():
    error = raises('lock_mismatch', _mirror.wanted_set, ['beta==2.0'], LOCK)
    assert error.details['package'] == 'beta'
    assert 'beta==2.0 is requested but the lock pins beta==2.0+local' in error.msg


def test_wanted_set_bad_pin():
    error = raises('invalid_pin', _mirror.wanted_set, ['alpha==1.0', 'torch>=2'], LOCK)
    assert "'torch>=2'" in error.msg


# --------------------------------------------------------------------------- wheel file names and tags
def test_parse_wheel_filename_compressed_tag_sets():
    info = _mirror.parse_wheel_filename(MARKUPSAFE)
    assert info == {'filename': MARKUPSAFE, 'name': 'markupsafe', 'version': '3.0.4', 'tags': {
        ('cp311', 'cp311', 'manylinux2014_x86_64'), ('cp311', 'cp311', 'manylinux_2_17_x86_64'),
        ('cp311', 'cp311', 'manylinux_2_28_x86_64')}}
    assert _mirror.parse_wheel_filename('six-1.17.0-py2.py3-none-any.whl')['tags'] == {
        ('py2', 'none', 'any'), ('py3', 'none', 'any')}


def test_parse_wheel_filename_quoted_version_and_url():
    info = _mirror.parse_wheel_filename('http://127.0.0.1:1/packages/torch-2.13.0%2Bcpu-cp311-cp311-'
                                        'manylinux_2_28_x86_64.whl')
    assert info['filename'] == TORCH_311
    assert info['name'] == 'torch' and info['version'] == '2.13.0+cpu'
    assert info['tags'] == {('cp311', 'cp311', 'manylinux_2_28_x86_64')}


def test_parse_wheel_filename_build_tag_and_name():
    info = _mirror.parse_wheel_filename('Typing_Extensions-4.16.0-1-py3-none-any.whl')
    assert info['name'] == 'typing-extensions' and info['version'] == '4.16.0'
    assert info['tags'] == {('py3', 'none', 'any')}


@pytest.mark.parametrize('name', ['torch-2.13.0.tar.gz', 'torch.whl', 'torch-2.13.0-py3-none.whl',
                                  'a-1-2-3-4-5-6.whl', 'README', ''])
def test_parse_wheel_filename_not_a_wheel(name):
    assert _mirror.parse_wheel_filename(name) is None


def fits(filename, tags=None):
    return bool(_mirror.parse_wheel_filename(filename)['tags'] & (TAGS_311_228 if tags is None else tags))


@pytest.mark.parametrize('filename, expected', [
    (TORCH_311, True),
    ('x-1.0-cp311-cp311-manylinux_2_17_x86_64.whl', True),
    ('x-1.0-cp311-cp311-manylinux2014_x86_64.whl', True),
    ('x-1.0-cp311-cp311-manylinux1_x86_64.whl', True),
    (MARKUPSAFE, True),
    ('x-1.0-cp311-cp311-manylinux_2_31_x86_64.whl', False),
    ('x-1.0-cp311-cp311-manylinux_2_28_aarch64.whl', False),
    ('x-1.0-cp38-abi3-manylinux_2_17_x86_64.whl', True),
    ('x-1.0-cp311-abi3-manylinux_2_17_x86_64.whl', True),
    ('x-1.0-cp312-abi3-manylinux_2_17_x86_64.whl', False),
    (TORCH_312, False),
    ('x-1.0-cp310-cp310-manylinux_2_17_x86_64.whl', False),
    ('x-1.0-cp311-cp311-linux_x86_64.whl', True),
    ('x-1.0-py3-none-any.whl', True),
    ('x-1.0-py2.py3-none-any.whl', True),
    ('x-1.0-py2-none-any.whl', False),
    ('x-1.0-cp311-none-any.whl', True),
    ('uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl', True),
    ('x-1.0-cp311-cp311-win_amd64.whl', False),
    ('x-1.0-cp311-cp311-macosx_11_0_x86_64.whl', False),
])
def test_supported_tags_cp311_glibc_2_28(filename, expected):
    assert fits(filename) is expected


def test_supported_tags_without_glibc_has_no_manylinux():
    tags = _mirror.supported_tags(3, 11, X86)
    assert not [t for t in tags if 'manylinux' in t[2]]
    assert fits('x-1.0-cp311-cp311-linux_x86_64.whl', tags)
    assert not fits(TORCH_311, tags)
    assert fits('x-1.0-py3-none-any.whl', tags)


def test_expand_platforms():
    expanded = _mirror.expand_platforms(['manylinux_2_28_x86_64'])
    assert expanded[0] == 'manylinux_2_28_x86_64'
    assert expanded[:12] == ['manylinux_2_%d_x86_64' % m for m in range(28, 16, -1)]
    for plat in ('manylinux_2_17_x86_64', 'manylinux_2_5_x86_64', 'manylinux2014_x86_64', 'manylinux2010_x86_64',
                 'manylinux1_x86_64'):
        assert plat in expanded
    for plat in ('manylinux_2_29_x86_64', 'manylinux_2_31_x86_64', 'manylinux_2_4_x86_64'):
        assert plat not in expanded
    assert len(expanded) == len(set(expanded))


def test_expand_platforms_keeps_others_and_removes_duplicates():
    expanded = _mirror.expand_platforms(['linux_x86_64', 'manylinux_2_17_x86_64', 'manylinux_2_12_x86_64',
                                         'manylinux_2_17_aarch64'])
    assert expanded[0] == 'linux_x86_64'
    assert len(expanded) == len(set(expanded))
    assert 'manylinux2014_x86_64' in expanded and 'manylinux2014_aarch64' in expanded
    assert 'manylinux_2_5_aarch64' in expanded
    assert _mirror.expand_platforms(['any', 'any']) == ['any']


def test_probe_interpreter_and_tags_for():
    info = _mirror.probe_interpreter(sys.executable)
    assert (info['major'], info['minor']) == sys.version_info[:2]
    assert info['python_tag'] == 'cp%d%d' % sys.version_info[:2]
    assert info['version'] == platform.python_version()
    assert info['machine'] == platform.machine()
    libc, version = platform.libc_ver()
    if libc == 'glibc':
        assert info['platform_tag'] == 'manylinux_%s_%s' % (version.replace('.', '_'), platform.machine())
    tags = _mirror.tags_for(info)
    assert ('py3', 'none', 'any') in tags
    assert (info['python_tag'], info['python_tag'], 'linux_' + platform.machine()) in tags


def test_probe_interpreter_missing(tmp_path):
    error = raises('no_python', _mirror.probe_interpreter, str(tmp_path / 'python9'))
    assert str(tmp_path / 'python9') in error.msg and 'does not exist' in error.msg


def test_probe_interpreter_failing(tmp_path):
    fake = tmp_path / 'python'
    fake.write_text('#!/bin/sh\necho "no such runtime" >&2\nexit 1\n')
    fake.chmod(0o755)
    error = raises('no_python', _mirror.probe_interpreter, str(fake))
    assert 'failed to start' in error.msg and 'no such runtime' in error.msg


@pytest.mark.parametrize('body, words', [
    ('exec sleep 30\n', 'did not answer within 1s'),
    ('echo "not json"\n', 'printed no tag information'),
    ('', 'printed no tag information'),
])
def test_probe_interpreter_hang_or_nonsense(tmp_path, body, words):
    fake = tmp_path / 'python'
    fake.write_text('#!/bin/sh\n' + body)
    fake.chmod(0o755)
    error = raises('no_python', _mirror.probe_interpreter, str(fake), timeout=1)
    assert words in error.msg and str(fake) in error.msg


def test_probe_interpreter_that_cannot_be_executed(tmp_path):
    fake = tmp_path / 'python'
    fake.write_bytes(b'\x7fELF\x02\x01\x01' + b'\0' * 9 + b'\x02\x00\xb7\x00')   # aarch64 binary
    fake.chmod(0o755)
    error = raises('no_python', _mirror.probe_interpreter, str(fake))
    assert 'cannot be run' in error.msg


# --------------------------------------------------------------------------- redaction
# Every userinfo form: (url, redacted, secrets that must never show, public parts that may show).
USERINFO_FORMS = [
    ('user:password', 'https://alice:s3cret@mirror.lab/simple/', 'https://alice:***@mirror.lab/simple/',
     ['s3cret'], ['alice']),
    ('percent-encoded password', 'https://alice:p%40ss@mirror.lab/', 'https://alice:***@mirror.lab/',
     ['p%40ss', 'p@ss'], ['alice']),
    ('unencoded @ in password', 'https://alice:p@ss@mirror.lab/simple/', 'https://alice:***@mirror.lab/simple/',
     ['p@ss', 'ss@mirror'], ['alice']),
    ('token alone', 'https://tok3n-abcdef@mirror.lab:8443/simple/', 'https://***@mirror.lab:8443/simple/',
     ['tok3n-abcdef'], []),
    ('token as user, x-oauth-basic', 'https://ghp_T0KEN123:x-oauth-basic@mirror.lab/simple/',
     'https://***@mirror.lab/simple/', ['ghp_T0KEN123'], []),
    ('token as user, empty password', 'https://T0KEN123:@mirror.lab/simple/', 'https://***@mirror.lab/simple/',
     ['T0KEN123'], []),
    ('token as user, x-access-token', 'https://T0KEN123:X-Access-Token@mirror.lab/', 'https://***@mirror.lab/',
     ['T0KEN123'], []),
    ('one-character password', 'https://alice:k@mirror.lab/simple/', 'https://alice:***@mirror.lab/simple/',
     [':k@'], ['alice']),
    ('two-character token', 'https://ab@mirror.lab/simple/', 'https://***@mirror.lab/simple/', ['ab@'], []),
    ('two-character token as user', 'https://ab:x-oauth-basic@mirror.lab/', 'https://***@mirror.lab/',
     ['ab:', '//ab'], []),
]


@pytest.mark.parametrize('form, url, redacted, secrets, public', USERINFO_FORMS, ids=[f[0] for f in USERINFO_FORMS])
def test_redact_url_every_userinfo_form(form, url, redacted, secrets, public):
    out = _mirror.redact_url(url)
    assert out == redacted
    for secret in secrets:
        assert secret not in out
    for part in public:
        assert part in out


@pytest.mark.parametrize('form, url, redacted, secrets, public', USERINFO_FORMS, ids=[f[0] for f in USERINFO_FORMS])
def test_scrub_every_userinfo_form_in_free_text(form, url, redacted, secrets, public):
    """Installer output quotes the URL (also inside a longer one) and may quote the bare secret."""
    text = 'Looking in indexes: %s\nGET %storch/ -> 401\n' % (url, url)
    out = _mirror.scrub(text, _mirror.url_secrets(url))
    assert out == 'Looking in indexes: %s\nGET %storch/ -> 401\n' % (redacted, redacted)
    for secret in secrets:
        assert secret not in out


@pytest.mark.parametrize('url, redacted', [
    ('http://mirror.lab:3141/simple/', 'http://mirror.lab:3141/simple/'),
    ('http://127.0.0.1:18141/packages/a@b.whl', 'http://127.0.0.1:18141/packages/a@b.whl'),
    ('http://127.0.0.1:18141/simple/?q=a@b', 'http://127.0.0.1:18141/simple/?q=a@b'),
    ('', ''),
    (None, None),
])
def test_redact_url_without_userinfo_is_unchanged(url, redacted):
    assert _mirror.redact_url(url) == redacted


@pytest.mark.parametrize('url, expected', [
    ('https://alice:s3cret@mirror.lab/simple/', ['s3cret']),
    ('https://alice:p%40ss@mirror.lab/', ['p%40ss', 'p@ss']),
    ('https://tok3n-abcdef@mirror.lab/', ['tok3n-abcdef']),
    ('https://T0K%2BEN:x-oauth-basic@mirror.lab/', ['T0K%2BEN', 'T0K+EN', 'T0K%2BEN:x-oauth-basic',
                                                    'T0K+EN:x-oauth-basic']),
    ('https://alice:k@mirror.lab/', ['k']),
    ('http://mirror.lab/simple/', []),
    (None, []),
])
def test_url_secrets(url, expected):
    assert _mirror.url_secrets(url) == expected


def test_long_secrets_leave_out_short_ones():
    assert _mirror.long_secrets('https://alice:k@mirror.lab/') == []
    assert _mirror.long_secrets('https://ab@mirror.lab/') == []
    assert _mirror.long_secrets('https://alice:s3cret@mirror.lab/') == ['s3cret']


def test_scrub_short_secret_does_not_corrupt_text():
    """A one-character password is masked inside the URL only: the rest of the output stays readable."""
    url = 'https://alice:a@mirror.lab/simple/'
    out = _mirror.scrub('Looking in indexes: %s\nalpha installed' % url, _mirror.url_secrets(url))
    assert out == 'Looking in indexes: https://alice:***@mirror.lab/simple/\nalpha installed'


def test_scrub_free_text():
    url = 'https://alice:p%40ss-w0rd@mirror.lab/simple/'
    text = ('Looking in indexes: %s\nERROR: 401 for https://alice:p%%40ss-w0rd@mirror.lab/simple/torch/ '
            '(password p@ss-w0rd rejected); also see http://bob:hunter22@other.lab/x' % url)
    out = _mirror.scrub(text, _mirror.url_secrets(url))
    assert 'p@ss-w0rd' not in out and 'p%40ss-w0rd' not in out and 'hunter22' not in out
    assert 'Looking in indexes: https://alice:***@mirror.lab/simple/' in out
    assert 'http://bob:***@other.lab/x' in out
    assert '(password *** rejected)' in out
    token = 'https://t0ken-xyz@mirror.lab/simple/'
    out = _mirror.scrub('GET %s failed; token t0ken-xyz' % token, _mirror.url_secrets(token))
    assert out == 'GET https://***@mirror.lab/simple/ failed; token ***'
    assert _mirror.scrub('nothing secret here', []) == 'nothing secret here'
    assert _mirror.scrub('', ['x']) == ''


@pytest.mark.parametrize('url, expected', [
    ('https://alice:s3cret@mirror.lab/simple/', 'https://mirror.lab/simple/'),
    ('https://TOKEN:x-oauth-basic@mirror.lab:8443/simple/', 'https://mirror.lab:8443/simple/'),
    ('https://alice:p@ss@mirror.lab/', 'https://mirror.lab/'),
    ('http://mirror.lab/simple/', 'http://mirror.lab/simple/'),
    ('http://127.0.0.1:1/packages/a@b.whl', 'http://127.0.0.1:1/packages/a@b.whl'),
    (None, None),
])
def test_strip_userinfo(url, expected):
    assert _mirror.strip_userinfo(url) == expected


@pytest.mark.parametrize('url, expected', [
    ('https://alice:p%40ss@mirror.lab/', ('alice', 'p@ss')),
    ('https://TOKEN@mirror.lab/', ('TOKEN', '')),
    ('https://TOKEN:x-oauth-basic@mirror.lab/', ('TOKEN', 'x-oauth-basic')),
    ('https://mirror.lab/', None),
    ('', None),
])
def test_url_credentials(url, expected):
    assert _mirror.url_credentials(url) == expected


# --------------------------------------------------------------------------- listings from real servers
@pytest.fixture(scope='module')
def wheel_dir(tmp_path_factory, write_wheel):
    """Small real wheels (alpha, beta with a local version, gamma) plus two files that are not wheels."""
    out = tmp_path_factory.mktemp('mirror-wheels')
    write_wheel(out, 'alpha', '1.0', {'alpha.py': 'VALUE = 1\n'})
    write_wheel(out, 'alpha', '0.9', {'alpha.py': 'VALUE = 0\n'})
    write_wheel(out, 'beta', '2.0+local', {'beta.py': 'VALUE = 2\n'})
    write_wheel(out, 'gamma', '3.0', {'gamma.py': ''}, tag='cp312-cp312-manylinux_2_28_x86_64')
    (out / 'alpha-1.0.tar.gz').write_bytes(b'not a wheel')
    (out / 'notes.txt').write_text('hello')
    return out


def digests(directory):
    return dict((p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in directory.glob('*.whl'))


@pytest.fixture(scope='module')
def index_url(servers, wheel_dir):
    return servers.pypiserver(wheel_dir)


@pytest.fixture(scope='module')
def findlinks_url(servers, wheel_dir):
    return servers.http(wheel_dir)


def summary(listing):
    return dict((name, sorted((f['filename'], f['version'], f['sha256']) for f in files))
                for name, files in listing.items())


def test_list_mirror_index(index_url, wheel_dir):
    sums = digests(wheel_dir)
    listing = _mirror.list_mirror('index', index_url, names=['alpha', 'beta', 'gamma', 'absent'])
    assert summary(listing) == {
        'alpha': [('alpha-0.9-py3-none-any.whl', '0.9', sums['alpha-0.9-py3-none-any.whl']),
                  ('alpha-1.0-py3-none-any.whl', '1.0', sums['alpha-1.0-py3-none-any.whl'])],
        'beta': [('beta-2.0+local-py3-none-any.whl', '2.0+local', sums['beta-2.0+local-py3-none-any.whl'])],
        'gamma': [('gamma-3.0-cp312-cp312-manylinux_2_28_x86_64.whl', '3.0',
                   sums['gamma-3.0-cp312-cp312-manylinux_2_28_x86_64.whl'])],
        'absent': [],
    }
    # the file URLs are absolute and serve the very bytes the sha256 fragment names
    beta = listing['beta'][0]
    assert beta['url'].startswith(index_url.rsplit('/simple/', 1)[0] + '/')
    assert hashlib.sha256(urlopen(beta['url'], timeout=10).read()).hexdigest() == beta['sha256']


def test_list_mirror_index_without_trailing_slash_and_credentials(index_url):
    """pypiserver runs without authentication: credentials in the URL are sent and ignored."""
    url = index_url.rstrip('/').replace('http://', 'http://alice:s3cret@')
    listing = _mirror.list_mirror('index', url, names=['alpha'])
    assert [f['version'] for f in listing['alpha']] == ['0.9', '1.0']


def test_list_mirror_find_links(findlinks_url, wheel_dir):
    listing = _mirror.list_mirror('find_links', findlinks_url, names=['alpha', 'beta', 'absent'])
    assert summary(listing) == {
        'alpha': [('alpha-0.9-py3-none-any.whl', '0.9', None), ('alpha-1.0-py3-none-any.whl', '1.0', None)],
        'beta': [('beta-2.0+local-py3-none-any.whl', '2.0+local', None)],
        'absent': [],
    }
    beta = listing['beta'][0]
    assert beta['url'] == findlinks_url + 'beta-2.0%2Blocal-py3-none-any.whl'
    assert urlopen(beta['url'], timeout=10).read() == (wheel_dir / 'beta-2.0+local-py3-none-any.whl').read_bytes()


def test_list_mirror_find_links_http_error(findlinks_url):
    error = raises('unreachable', _mirror.list_mirror, 'find_links', findlinks_url + 'nowhere/', names=['alpha'])
    assert 'answered HTTP 404' in error.msg and findlinks_url + 'nowhere/' in error.msg


def test_list_mirror_wheelhouse(wheel_dir):
    listing = _mirror.list_mirror('wheelhouse', wheelhouse=str(wheel_dir), names=['alpha', 'beta'])
    assert summary(listing) == {
        'alpha': [('alpha-0.9-py3-none-any.whl', '0.9', None), ('alpha-1.0-py3-none-any.whl', '1.0', None)],
        'beta': [('beta-2.0+local-py3-none-any.whl', '2.0+local', None)],
    }
    assert listing['beta'][0]['url'] == str(wheel_dir / 'beta-2.0+local-py3-none-any.whl')


def test_list_mirror_wheelhouse_missing(tmp_path):
    error = raises('unreachable', _mirror.list_mirror, 'wheelhouse', wheelhouse=str(tmp_path / 'none'), names=['a'])
    assert str(tmp_path / 'none') in error.msg and 'does not exist' in error.msg


@pytest.mark.parametrize('mode', ['index', 'find_links'])
def test_list_mirror_unreachable_is_redacted(mode, unused_port):
    port = unused_port()  # nothing listens there
    url = 'http://alice:s3cret-pw@127.0.0.1:%d/simple/' % port
    error = raises('unreachable', _mirror.list_mirror, mode, url, names=['alpha'], timeout=5)
    assert 's3cret-pw' not in error.msg and 's3cret-pw' not in repr(error.details)
    assert 'mirror http://alice:***@127.0.0.1:%d/simple/ is unreachable' % port in error.msg
    assert error.details['url'] == 'http://alice:***@127.0.0.1:%d/simple/' % port


def test_list_mirror_bad_arguments():
    assert 'no mirror URL' in raises('invalid', _mirror.list_mirror, 'index', None, names=['a']).msg
    error = raises('invalid', _mirror.list_mirror, 'ftp', 'ftp://x/', names=['a'])
    assert "'ftp'" in error.msg and 'index, find_links, wheelhouse' in error.msg


# --------------------------------------------------------------------------- availability
def listing_of(*filenames, **hashes):
    listing = _mirror.listing_from_names(filenames, ['alpha', 'beta', 'torch', 'markupsafe'])
    for files in listing.values():
        for info in files:
            info['sha256'] = hashes.get(info['name'])
    return listing


def test_listing_from_names():
    listing = _mirror.listing_from_names([ALPHA, 'notes.txt', 'zeta-1.0-py3-none-any.whl', TORCH_311],
                                         ['alpha', 'torch'])
    assert summary(listing) == {'alpha': [(ALPHA, '1.0', None)], 'torch': [(TORCH_311, '2.13.0+cpu', None)]}
    assert listing['alpha'][0]['url'] == ALPHA


def test_check_availability_chosen():
    listing = listing_of(ALPHA, 'alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.whl', 'alpha-0.9-py3-none-any.whl',
                         'torch-2.13.0%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl', TORCH_312, MARKUPSAFE)
    chosen = _mirror.check_availability({'alpha': '1.0', 'torch': '2.13.0+cpu', 'markupsafe': '3.0.4'}, listing,
                                        TAGS_311_228, HOST_311, 'http://m/simple/')
    assert chosen == {'alpha': 'alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.whl', 'torch': TORCH_311,
                      'markupsafe': MARKUPSAFE}


def test_check_availability_missing():
    listing = listing_of('alpha-0.9-py3-none-any.whl', 'alpha-1.1-py3-none-any.whl', ALPHA)
    error = raises('missing_package', _mirror.check_availability, {'alpha': '2.0', 'beta': '2.0+local'},
                   listing, TAGS_311_228, HOST_311, 'http://m/simple/')
    assert error.msg == ('not in mirror http://m/simple/: alpha==2.0 (mirror has: 0.9, 1.0, 1.1); '
                         'beta==2.0+local (mirror has: no versions)')
    assert len(error.details['missing']) == 2


def test_check_availability_unfit_names_python_tag():
    listing = listing_of(TORCH_312, 'torch-2.13.0+cpu-cp311-cp311-manylinux_2_31_x86_64.whl')
    error = raises('no_compatible_wheel', _mirror.check_availability, {'torch': '2.13.0+cpu'}, listing,
                   TAGS_311_228, HOST_311, 'http://m/simple/')
    assert 'no wheel in mirror http://m/simple/ fits this host (Python tag cp311, platform manylinux_2_28_x86_64)' \
        in error.msg
    assert TORCH_312 in error.msg and 'torch-2.13.0+cpu-cp311-cp311-manylinux_2_31_x86_64.whl' in error.msg


def test_check_availability_lists_every_problem():
    listing = listing_of(TORCH_312, ALPHA)
    error = raises('missing_package', _mirror.check_availability, {'alpha': '1.0', 'beta': '1', 'torch': '2.13.0+cpu'},
                   listing, TAGS_311_228, HOST_311, 'L')
    assert error.msg.startswith('not in mirror L: beta==1 (mirror has: no versions). no wheel in mirror L fits')
    assert error.details['unfit'] and error.details['missing']


def test_check_availability_hash():
    lock = {'alpha': {'version': '1.0', 'hashes': [H1, H2]}}
    chosen = _mirror.check_availability({'alpha': '1.0'}, listing_of(ALPHA, alpha=H2), TAGS_311_228, HOST_311, 'L',
                                        lock)
    assert chosen == {'alpha': ALPHA}
    # a listing without hashes (find_links, wheelhouse) cannot be compared: the installer checks later
    assert _mirror.check_availability({'alpha': '1.0'}, listing_of(ALPHA), TAGS_311_228, HOST_311, 'L', lock)
    error = raises('hash_mismatch', _mirror.check_availability, {'alpha': '1.0'}, listing_of(ALPHA, alpha=H3),
                   TAGS_311_228, HOST_311, 'http://m/simple/', lock)
    assert error.msg == 'hash mismatch in mirror http://m/simple/: %s (mirror sha256 %s, lock expects %s or %s)' % (
        ALPHA, H3, H1, H2)


def test_check_availability_names_a_lock_staged_for_another_python():
    """A cp312 lock on a cp311 host, both wheels in the mirror: not a tampered mirror, the wrong lock."""
    listing = listing_of(TORCH_311, TORCH_312)
    for info in listing['torch']:
        info['sha256'] = H1 if info['filename'] == TORCH_312 else H2
    lock = {'torch': {'version': '2.13.0+cpu', 'hashes': [H1]}}
    error = raises('lock_for_other_python', _mirror.check_availability, {'torch': '2.13.0+cpu'}, listing,
                   TAGS_311_228, HOST_311, 'L', lock)
    assert error.msg == ("the lock was staged for another Python or platform than this host's (Python tag cp311, "
                         "platform manylinux_2_28_x86_64): torch==2.13.0+cpu (the lock's %s does not fit this host; "
                         "the mirror's %s is not in the lock)" % (TORCH_312, TORCH_311))
    assert 'hash mismatch' not in error.msg
    # a fitting wheel whose hash is in no file of the mirror is still a hash mismatch
    lock = {'torch': {'version': '2.13.0+cpu', 'hashes': [H3]}}
    raises('hash_mismatch', _mirror.check_availability, {'torch': '2.13.0+cpu'}, listing, TAGS_311_228, HOST_311,
           'L', lock)


def test_check_availability_against_pypiserver(index_url, wheel_dir, tmp_path):
    """End to end: a lock written from the files, the listing of the real index, the host's real tags."""
    sums = digests(wheel_dir)
    info = _mirror.probe_interpreter(sys.executable)
    good = {'alpha': {'version': '1.0', 'hashes': [sums['alpha-1.0-py3-none-any.whl']]},
            'beta': {'version': '2.0+local', 'hashes': [sums['beta-2.0+local-py3-none-any.whl']]}}
    wanted, lock = _mirror.wanted_set(['beta==2.0+local'], _mirror.render_lock(good))
    listing = _mirror.list_mirror('index', index_url, names=sorted(wanted))
    chosen = _mirror.check_availability(wanted, listing, _mirror.tags_for(info), info, index_url, lock)
    assert chosen == {'alpha': 'alpha-1.0-py3-none-any.whl', 'beta': 'beta-2.0+local-py3-none-any.whl'}

    bad = dict(good, beta={'version': '2.0+local', 'hashes': [H1]})
    wanted, lock = _mirror.wanted_set([], _mirror.render_lock(bad))
    error = raises('hash_mismatch', _mirror.check_availability, wanted, _mirror.list_mirror('index', index_url,
                   names=sorted(wanted)), _mirror.tags_for(info), info, index_url, lock)
    assert 'beta-2.0+local-py3-none-any.whl (mirror sha256 %s, lock expects %s)' % (
        sums['beta-2.0+local-py3-none-any.whl'], H1) in error.msg

    if info['python_tag'] != 'cp312':
        wanted = {'gamma': '3.0'}
        error = raises('no_compatible_wheel', _mirror.check_availability, wanted,
                       _mirror.list_mirror('index', index_url, names=['gamma']), _mirror.tags_for(info), info, 'L')
        assert 'Python tag %s' % info['python_tag'] in error.msg
