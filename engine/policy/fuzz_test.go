package policy

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzPolicy decodes arbitrary JSON as a policy (as the API and the
// catalog do) and runs everything that reads one: validation, the
// description, the cron specs, the RPO and, for a valid policy, the slot
// arithmetic. None may panic; a valid policy's next slot lies ahead.
func FuzzPolicy(f *testing.F) {
	for _, s := range []string{
		`{"name":"Daily","full":{"frequency":"daily","time":"22:00","timezone":"UTC"},"log":{"enabled":true,"every_minutes":15},"retention":{"daily_days":30,"log_days":15}}`,
		`{"name":"W","full":{"frequency":"weekly","days":["Sunday"],"time":"01:30","timezone":"Europe/Paris"},"differential":{"enabled":true,"days":["Wednesday"],"time":"02:00"},"retention":{"weekly_weeks":12,"monthly_months":6,"yearly_years":2,"differential_days":14}}`,
		`{"full":{"frequency":"daily","time":"24:61","timezone":"Mars/Olympus"}}`,
		`{"full":{"frequency":"weekly","days":["Funday",""],"time":"-1:00"},"log":{"enabled":true,"every_minutes":-5}}`,
		`{"full":{"time":"9"},"differential":{"enabled":true,"days":[]},"log":{"enabled":true,"every_minutes":2147483647}}`,
		`{"retention":{"daily_days":-1,"yearly_years":9999999999}}`,
		`{}`, `null`, `[]`, `{"name":"\u0000\t]'"}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC) // a DST change in Europe
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Policy
		if json.Unmarshal(data, &p) != nil {
			return
		}
		err := p.Validate()
		p.ValidateWith(Limits{})
		Fields(err)
		_ = p.Describe()
		_ = p.CronSpecs()
		_ = p.RPO()
		if err != nil {
			return
		}
		for _, kind := range []string{Full, Differential, Log} {
			if next := p.Next(kind, now); !next.IsZero() && !next.After(now) {
				t.Fatalf("%s: next %s slot %v is not after %v", p.Name, kind, next, now)
			}
			p.Missed(kind, now.Add(-48*time.Hour), now)
		}
	})
}
