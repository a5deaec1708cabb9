package sqlsim

import (
	"strings"
	"testing"
)

// TestProductVersions: each version sqlsim plays answers SERVERPROPERTY
// and @@VERSION as that release, and SQL Server 2014 (12.0) cannot back up
// to or restore from a URL with a SAS credential.
func TestProductVersions(t *testing.T) {
	for _, c := range []struct{ version, major, year string }{
		{"", "16", "2022"}, // the default
		{"12.0.6024.0", "12", "2014"},
		{"13.0.6300.2", "13", "2016"},
		{"15.0.4355.3", "15", "2019"},
		{"16.0.4145.4", "16", "2022"},
	} {
		s := startSimWith(t, "", func(cfg *Config) { cfg.ProductVersion = c.version })
		db := s.db(t, "sa", "Sa-Passw0rd!")
		var ver, major, banner string
		if err := db.QueryRow("SELECT SERVERPROPERTY('ProductVersion'), SERVERPROPERTY('ProductMajorVersion'), @@VERSION").
			Scan(&ver, &major, &banner); err != nil {
			t.Fatal(err)
		}
		want := c.version
		if want == "" {
			want = DefaultProductVersion
		}
		if ver != want || major != c.major || !strings.HasPrefix(banner, "Microsoft SQL Server "+c.year+" (") ||
			!strings.Contains(banner, " - "+want+" (X64)") {
			t.Errorf("%q: ProductVersion %q, major %q, @@VERSION %q", c.version, ver, major, banner)
		}

		setupSales(t, db, container, "sv=2020-10-02&sig=x")
		_, err := db.Exec("BACKUP DATABASE Sales TO URL = N'" + container + "/v.bak'")
		if c.major == "12" {
			if !hasNumber(err, 3201) || !hasNumber(err, 3013) {
				t.Errorf("12.0 BACKUP TO URL with a SAS credential: %v, want 3201 and 3013", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: BACKUP TO URL: %v", c.version, err)
		}
	}
}

func TestFlavourRefusesWhatItCannotPlay(t *testing.T) {
	for _, cfg := range []Config{{ProductVersion: "11.0.7001.0"}, {ProductVersion: "16.0"}, {ProductVersion: "16.0.x.4"},
		{TimeZone: "Mars/Olympus"}, {TimeZone: "Europe/Vaduz"}} {
		if _, err := newFlavour(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
