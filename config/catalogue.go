package config

// Groups of the default catalogue, in page order.
const (
	groupAccounts  = "Accounts & Authentication"
	groupPackaging = "Packaging & Builds"
	groupComms     = "Communication"
	groupWebsites  = "Websites & Docs"
	groupInfra     = "Infrastructure"
)

// defaultComponents is the catalogue of the last per-service status page (fedora-infra/statusfpo,
// wsgi/statuses.json): the 28 ids, names and URLs verbatim, except the badges URL whose upstream
// typo "http:/badges…" is fixed. Groups and aliases are nocbot's; aliases are the other names
// operators type in chat (e.g. "updates" for bodhi, "src" for pkgs) and never repeat an id.
func defaultComponents() []Component {
	return []Component{
		{ID: "authentication", Name: "Ipsilon", Group: groupAccounts, URL: "https://id.fedoraproject.org/", Aliases: []string{"ipsilon", "id", "sso"}},
		{ID: "fas", Name: "Account System", Group: groupAccounts, URL: "https://admin.fedoraproject.org/accounts/", Aliases: []string{"accounts", "noggin"}},
		{ID: "krb", Name: "Kerberos", Group: groupAccounts, URL: "https://id.fedoraproject.org/", Aliases: []string{"kerberos"}},

		{ID: "koji", Name: "The Koji Buildsystem", Group: groupPackaging, URL: "http://koji.fedoraproject.org/koji/", Aliases: []string{"buildsystem"}},
		{ID: "bodhi", Name: "Package Updates Manager", Group: groupPackaging, URL: "https://admin.fedoraproject.org/updates/", Aliases: []string{"updates"}},
		{ID: "pkgs", Name: "Package maintainers git repositories", Group: groupPackaging, URL: "http://pkgs.fedoraproject.org/", Aliases: []string{"dist-git", "distgit", "src"}},
		{ID: "copr", Name: "COPR Build System", Group: groupPackaging, URL: "https://copr.fedoraproject.org/"},
		{ID: "mbs", Name: "Module Build Service", Group: groupPackaging, URL: "https://mbs.fedoraproject.org", Aliases: []string{"module-build-service"}},
		{ID: "koschei", Name: "Koschei Continuous Integration", Group: groupPackaging, URL: "https://apps.fedoraproject.org/koschei/"},
		{ID: "packages", Name: "Fedora Packages App", Group: groupPackaging, URL: "https://apps.fedoraproject.org/packages"},
		{ID: "registry", Name: "Fedora Container Registry", Group: groupPackaging, URL: "https://registry.fedoraproject.org/", Aliases: []string{"container-registry"}},
		{ID: "pagure", Name: "Pagure", Group: groupPackaging, URL: "https://pagure.io", Aliases: []string{"pagure.io"}},
		{ID: "blockerbugs", Name: "Blockerbugs", Group: groupPackaging, URL: "http://qa.fedoraproject.org/blockerbugs/", Aliases: []string{"blockers"}},

		{ID: "mailinglists", Name: "Mailing Lists", Group: groupComms, URL: "http://lists.fedoraproject.org/", Aliases: []string{"lists", "mailman", "hyperkitty"}},
		{ID: "zodbot", Name: "Zodbot IRC bot", Group: groupComms, URL: "https://fedoraproject.org/wiki/Zodbot", Aliases: []string{"meetbot"}},
		{ID: "fedmsg", Name: "Fedora Messaging Bus", Group: groupComms, URL: "https://admin.fedoraproject.org/pkgdb/acls/name/fedmsg", Aliases: []string{"fedora-messaging", "messaging"}},
		{ID: "fedorapaste", Name: "Fedora pastebin service", Group: groupComms, URL: "https://paste.fedorahosted.org/", Aliases: []string{"paste", "pastebin", "fpaste"}},
		{ID: "fedocal", Name: "Fedora Calendar", Group: groupComms, URL: "https://apps.fedoraproject.org/fedocal/", Aliases: []string{"calendar"}},

		{ID: "website", Name: "Fedora websites", Group: groupWebsites, URL: "http://fedoraproject.org/", Aliases: []string{"websites", "www"}},
		{ID: "docs", Name: "Documentation website", Group: groupWebsites, URL: "http://docs.fedoraproject.org/", Aliases: []string{"documentation"}},
		{ID: "wiki", Name: "Fedora Wiki", Group: groupWebsites, URL: "https://fedoraproject.org/wiki/Fedora_Project_Wiki", Aliases: []string{"mediawiki"}},
		{ID: "people", Name: "Fedora People", Group: groupWebsites, URL: "https://fedorapeople.org/", Aliases: []string{"fedorapeople"}},
		{ID: "badges", Name: "Badges", Group: groupWebsites, URL: "https://badges.fedoraproject.org/", Aliases: []string{"fedbadges"}},
		{ID: "elections", Name: "Fedora elections", Group: groupWebsites, URL: "https://admin.fedoraproject.org/voting/", Aliases: []string{"voting"}},

		{ID: "cloud", Name: "Fedora Infrastructure Cloud", Group: groupInfra, URL: "https://fedorainfracloud.org/", Aliases: []string{"fedorainfracloud"}},
		{ID: "mirrormanager", Name: "Mirror Manager", Group: groupInfra, URL: "http://mirrors.fedoraproject.org/", Aliases: []string{"mirrors", "mm2"}},
		{ID: "mirrorlist", Name: "Mirror List", Group: groupInfra, URL: "http://mirrors.fedoraproject.org/publiclist/", Aliases: []string{"metalink"}},
		{ID: "retrace", Name: "ABRT Server", Group: groupInfra, URL: "https://retrace.fedoraproject.org/", Aliases: []string{"abrt", "faf"}},
	}
}
