# -*- coding: utf-8 -*-
# Copyright: contributors to codex.offline_ml
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_mirror_urls: which URLs carry credentials, redaction, scrubbing, and the one netrc writer."""

from __future__ import absolute_import, division, print_function

import os

import pytest

from ansible_collections.codex.offline_ml.plugins.module_utils import _mirror_urls
from ansible_collections.codex.offline_ml.plugins.module_utils._errors import MirrorError


def raises(kind, func, *args, **kwargs):
    with pytest.raises(MirrorError) as info:
        func(*args, **kwargs)
    assert info.value.kind == kind, info.value.msg
    assert str(info.value) == info.value.msg
    return info.value


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
    out = _mirror_urls.redact_url(url)
    assert out == redacted
    for secret in secrets:
        assert secret not in out
    for part in public:
        assert part in out


@pytest.mark.parametrize('form, url, redacted, secrets, public', USERINFO_FORMS, ids=[f[0] for f in USERINFO_FORMS])
def test_scrub_every_userinfo_form_in_free_text(form, url, redacted, secrets, public):
    """Installer output quotes the URL (also inside a longer one) and may quote the bare secret."""
    text = 'Looking in indexes: %s\nGET %storch/ -> 401\n' % (url, url)
    out = _mirror_urls.scrub(text, _mirror_urls.url_secrets(url))
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
    assert _mirror_urls.redact_url(url) == redacted


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
    assert _mirror_urls.url_secrets(url) == expected


def test_long_secrets_leave_out_short_ones():
    assert _mirror_urls.long_secrets('https://alice:k@mirror.lab/') == []
    assert _mirror_urls.long_secrets('https://ab@mirror.lab/') == []
    assert _mirror_urls.long_secrets('https://alice:s3cret@mirror.lab/') == ['s3cret']


def test_scrub_short_secret_does_not_corrupt_text():
    """A one-character password is masked inside the URL only: the rest of the output stays readable."""
    url = 'https://alice:a@mirror.lab/simple/'
    out = _mirror_urls.scrub('Looking in indexes: %s\nalpha installed' % url, _mirror_urls.url_secrets(url))
    assert out == 'Looking in indexes: https://alice:***@mirror.lab/simple/\nalpha installed'


def test_scrub_free_text():
    url = 'https://alice:p%40ss-w0rd@mirror.lab/simple/'
    text = ('Looking in indexes: %s\nERROR: 401 for https://alice:p%%40ss-w0rd@mirror.lab/simple/torch/ '
            '(password p@ss-w0rd rejected); also see http://bob:hunter22@other.lab/x' % url)
    out = _mirror_urls.scrub(text, _mirror_urls.url_secrets(url))
    assert 'p@ss-w0rd' not in out and 'p%40ss-w0rd' not in out and 'hunter22' not in out
    assert 'Looking in indexes: https://alice:***@mirror.lab/simple/' in out
    assert 'http://bob:***@other.lab/x' in out
    assert '(password *** rejected)' in out
    token = 'https://t0ken-xyz@mirror.lab/simple/'
    out = _mirror_urls.scrub('GET %s failed; token t0ken-xyz' % token, _mirror_urls.url_secrets(token))
    assert out == 'GET https://***@mirror.lab/simple/ failed; token ***'
    assert _mirror_urls.scrub('nothing secret here', []) == 'nothing secret here'
    assert _mirror_urls.scrub('', ['x']) == ''


@pytest.mark.parametrize('url, expected', [
    ('https://alice:s3cret@mirror.lab/simple/', 'https://mirror.lab/simple/'),
    ('https://TOKEN:x-oauth-basic@mirror.lab:8443/simple/', 'https://mirror.lab:8443/simple/'),
    ('https://alice:p@ss@mirror.lab/', 'https://mirror.lab/'),
    ('http://mirror.lab/simple/', 'http://mirror.lab/simple/'),
    ('http://127.0.0.1:1/packages/a@b.whl', 'http://127.0.0.1:1/packages/a@b.whl'),
    (None, None),
])
def test_strip_userinfo(url, expected):
    assert _mirror_urls.strip_userinfo(url) == expected


@pytest.mark.parametrize('url, expected', [
    ('https://alice:p%40ss@mirror.lab/', ('alice', 'p@ss')),
    ('https://TOKEN@mirror.lab/', ('TOKEN', '')),
    ('https://TOKEN:x-oauth-basic@mirror.lab/', ('TOKEN', 'x-oauth-basic')),
    ('https://mirror.lab/', None),
    ('', None),
])
def test_url_credentials(url, expected):
    assert _mirror_urls.url_credentials(url) == expected


# --------------------------------------------------------------------------- which URLs carry credentials
@pytest.mark.parametrize('url, expected', [
    ('https://alice:s3cret@mirror.lab/', True),
    ('https://T0KEN@mirror.lab/', True),
    ('https://@mirror.lab/', True),
    ('https://alice:p@ss@mirror.lab/simple/', True),
    ('  https://alice:pw@mirror.lab/  ', True),
    ('https://mirror.lab/simple/?user=a@b', False),
    ('https://mirror.lab/a@b/', False),
    ('https://mirror.lab:8443/', False),
    ('', False),
    (None, False),
])
def test_url_has_credentials(url, expected):
    assert _mirror_urls.url_has_credentials(url) is expected


# --------------------------------------------------------------------------- the netrc file
@pytest.mark.parametrize('urls, expected', [
    (['https://alice:p%40ss@mirror.lab:8443/simple/'], 'machine mirror.lab\nlogin alice\npassword "p@ss"\n'),
    (['https://T0KEN@mirror.lab/simple/'], 'machine mirror.lab\nlogin T0KEN\npassword ""\n'),
    (['https://T0KEN:x-oauth-basic@mirror.lab/'], 'machine mirror.lab\nlogin T0KEN\npassword "x-oauth-basic"\n'),
    (['https://mirror.lab/simple/', 'https://a:bb@x.lab/', 'file:///srv/wheels'],
     'machine x.lab\nlogin a\npassword "bb"\n'),
    (['https://mirror.lab/simple/'], None),
    ([None], None),
    ([], None),
])
def test_netrc_text(urls, expected):
    assert _mirror_urls.netrc_text(urls) == expected


@pytest.mark.parametrize('userinfo', ['alice:qq%20zzyy', 'alice:qq%09zzyy', 'alice:qq%22zzyy', "alice:qq'zzyy",
                                      'alice:qq%5Czzyy', 'alice:qq%23zzyy', 'alice:qq%0Azzyy', 'alice:qq%7Fzzyy',
                                      'al%20ice:qqzzyy', 'T0K%22EN'])
def test_netrc_refuses_what_it_cannot_carry(userinfo):
    url = 'https://%s@mirror.lab/simple/' % userinfo
    error = raises('invalid_credentials', _mirror_urls.netrc_text, ['https://ok:fine@a.lab/', url], 'stage_index_url')
    assert error.msg.startswith('stage_index_url %s: ' % _mirror_urls.redact_url(url))
    assert 'netrc' in error.msg and 'qq' not in error.msg and 'zzyy' not in error.msg


def test_write_netrc_private_exclusive_no_link(tmp_path):
    path = _mirror_urls.write_netrc(['https://alice:s3cret@mirror.lab/'], str(tmp_path))
    assert path == str(tmp_path / 'netrc')
    assert os.stat(path).st_mode & 0o777 == 0o600
    with pytest.raises(OSError):  # never over an existing file
        _mirror_urls.write_netrc(['https://alice:s3cret@mirror.lab/'], str(tmp_path))
    other = tmp_path / 'other'
    other.mkdir()
    os.symlink(str(tmp_path / 'target'), str(other / 'netrc'))
    with pytest.raises(OSError):  # never through a link
        _mirror_urls.write_netrc(['https://alice:s3cret@mirror.lab/'], str(other))
    assert not (tmp_path / 'target').exists()
    assert _mirror_urls.write_netrc(['https://mirror.lab/'], str(tmp_path / 'none')) is None
