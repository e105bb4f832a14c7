"""The browser lock-down: Firefox enterprise policies (``policies.json``), ``distribution.ini``.

Pure functions of the :class:`~components.settings.Settings`, so the ConfigMap the program declares
and the digest that restarts browsers when it changes are computed the same way everywhere (a
scoped watcher run must produce the very same pod template as a full run).

Key names are Firefox's own (mozilla/policy-templates). The set keeps every restriction of the
legacy chart's ``firefox-config`` (dev tools, private browsing, password reveal, telemetry,
add-on installs, Firefox accounts, studies, ...) and adds what the legacy one lacked: the home
page is ``browserUrl`` and locked, every URL outside the allow-list is blocked, ``about:config``,
``about:addons``, ``about:profiles`` and ``about:support`` are blocked, no extension can be
installed, the password manager is off.

Why an empty allow-list still blocks everything: the browser lives in a secure data environment;
a missing ``browserUrl`` must not silently open the whole web. The program warns about it.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from typing import Any

from components.settings import Settings

POLICIES_KEY = "policies.json"
DISTRIBUTION_KEY = "distribution.ini"
DISTRIBUTION_DIR = "/usr/lib/firefox/distribution"
CERTS_DIR = f"{DISTRIBUTION_DIR}/certs"
ENTERPRISE_CERT = f"{CERTS_DIR}/enterprise.crt"
"""The trust-manager Bundle key the legacy ConfigMap ``xlscsde-enterprise-certificate`` holds."""

BLOCK_ALL = "<all_urls>"

DISTRIBUTION_INI = """[Global]
id=mozilla-deb
version=1.0
about=Mozilla Firefox Debian Package

[Preferences]
intl.locale.requested=""
dom.ipc.forkserver.enable=true
browser.gnome-search-provider.enabled=false
"""
"""The legacy chart's ``distribution.ini`` (the image's Debian package identity), except that
the GNOME search provider, which would expose browsing to the desktop, is off."""


def allowed_patterns(settings: Settings) -> tuple[str, ...]:
    """WebsiteFilter exceptions: each ``firefoxAllowedUrls`` entry, else ``browserUrl``'s origin.

    An entry that is a bare origin (``https://host[:port]``, optionally with ``/``) allows the
    whole site (``https://host/*``); an entry with a path or a ``*`` is used as the match
    pattern it already is.
    """
    entries = settings.firefox_allowed_urls or (
        (_origin(settings.browser_url),) if settings.browser_url else ()
    )
    patterns: list[str] = []
    for entry in entries:
        pattern = _pattern(entry)
        if pattern not in patterns:
            patterns.append(pattern)
    return tuple(patterns)


def _origin(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def _pattern(entry: str) -> str:
    parsed = urllib.parse.urlsplit(entry)  # validated by components.settings
    if "*" in entry or parsed.path not in ("", "/"):
        return entry
    return f"{parsed.scheme}://{parsed.netloc}/*"


def policies(settings: Settings) -> dict[str, Any]:
    """The ``policies.json`` document (``{"policies": {...}}``)."""
    rules: dict[str, Any] = {
        # Kept from the legacy chart.
        "CaptivePortal": False,
        "DisableDeveloperTools": True,
        "DisableEncryptedClientHello": True,
        "DisableFeedbackCommands": True,
        "DisableFirefoxAccounts": True,
        "DisableFirefoxScreenshots": True,
        "DisableFirefoxStudies": True,
        "DisableForgetButton": True,
        "DisableFormHistory": True,
        "DisableMasterPasswordCreation": True,
        "DisablePasswordReveal": True,
        "DisablePocket": True,
        "DisablePrivateBrowsing": True,
        "DisableProfileImport": True,
        "DisableProfileRefresh": True,
        "DisableSafeMode": True,
        "DisableSecurityBypass": {"InvalidCertificate": True, "SafeBrowsing": True},
        "DisableSetDesktopBackground": True,
        "DisableSystemAddonUpdate": True,
        "DisableTelemetry": True,
        "FirefoxHome": {
            "Search": False,
            "TopSites": False,
            "SponsoredTopSites": False,
            "Highlights": False,
            "Pocket": False,
            "SponsoredPocket": False,
            "Snippets": False,
            "Locked": True,
        },
        "FirefoxSuggest": {
            "WebSuggestions": False,
            "SponsoredSuggestions": False,
            "ImproveSuggest": False,
            "Locked": True,
        },
        "InstallAddonsPermission": {"Default": False},
        "SearchSuggestEnabled": False,
        # Added: no add-ons at all, no about: escape hatches, no saved passwords.
        "ExtensionSettings": {"*": {"installation_mode": "blocked"}},
        "BlockAboutAddons": True,
        "BlockAboutConfig": True,
        "BlockAboutProfiles": True,
        "BlockAboutSupport": True,
        "PasswordManagerEnabled": False,
        "OfferToSaveLogins": False,
        "DisableAppUpdate": True,
        "DontCheckDefaultBrowser": True,
        "NoDefaultBookmarks": True,
        "DisplayBookmarksToolbar": "never",
        "DisplayMenuBar": "never",
        "OverrideFirstRunPage": "",
        "OverridePostUpdatePage": "",
        "UserMessaging": {
            "ExtensionRecommendations": False,
            "FeatureRecommendations": False,
            "UrlbarInterventions": False,
            "SkipOnboarding": True,
            "MoreFromMozilla": False,
            "Locked": True,
        },
        "WebsiteFilter": {"Block": [BLOCK_ALL], "Exceptions": list(allowed_patterns(settings))},
    }
    if settings.browser_url:
        rules["Homepage"] = {
            "URL": settings.browser_url,
            "Locked": True,
            "StartPage": "homepage-locked",
        }
    if settings.enterprise_ca_config_map:
        rules["Certificates"] = {"ImportEnterpriseRoots": True, "Install": [ENTERPRISE_CERT]}
    return {"policies": dict(sorted(rules.items()))}


def config_map_data(settings: Settings) -> dict[str, str]:
    """The ConfigMap's ``data``: the two files Firefox reads from its distribution directory."""
    return {
        DISTRIBUTION_KEY: DISTRIBUTION_INI,
        POLICIES_KEY: json.dumps(policies(settings), indent=2, sort_keys=True) + "\n",
    }


def digest(settings: Settings) -> str:
    """SHA-256 of the ConfigMap data; a pod-template annotation, so a change restarts browsers."""
    canonical = json.dumps(config_map_data(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
