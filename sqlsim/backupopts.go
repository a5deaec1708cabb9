package sqlsim

import (
	"fmt"
	"strings"
	"time"
)

// backupOpts are the WITH options of BACKUP and RESTORE.
type backupOpts struct {
	differential, copyOnly, compression, checksum bool
	norecovery, recovery, replace, noTruncate     bool
	stats                                         int
	maxTransfer                                   int
	blockSize                                     int // 0: not given
	name, description                             string
	moves                                         map[string]string // logical -> physical
	stopAt                                        *time.Time
	standby                                       string // RESTORE WITH STANDBY = 'undo file'
}

// parseURLs reads `URL = 'u' [, URL = 'u2' ...]`, or DISK = 'path' for
// RESTORE of files exported by sqlvault (returned as diskPrefix + path).
func parseURLs(p *parser) ([]string, error) {
	var urls []string
	for {
		if p.is("TAPE") {
			return nil, sqlErr(3201, 16, "Cannot open backup device: the simulator supports URL and DISK devices only.")
		}
		disk := p.accept("DISK")
		if !disk {
			if err := p.expect("URL"); err != nil {
				return nil, err
			}
		}
		if err := p.expectOp("="); err != nil {
			return nil, err
		}
		t := p.next()
		if t.kind != tString {
			return nil, p.syntaxErr()
		}
		if disk {
			t.text = diskPrefix + t.text
		}
		urls = append(urls, t.text)
		if !(p.isOp(",") && (strings.EqualFold(p.peekAt(1).text, "URL") || strings.EqualFold(p.peekAt(1).text, "DISK"))) {
			return urls, nil
		}
		p.next()
	}
}

func (x *execCtx) parseOpts(p *parser) (backupOpts, error) {
	o := backupOpts{maxTransfer: 1 << 20, moves: map[string]string{}}
	if !p.accept("WITH") {
		return o, nil
	}
	for {
		kw, err := p.name()
		if err != nil {
			return o, err
		}
		value := func() (string, error) {
			if err := p.expectOp("="); err != nil {
				return "", err
			}
			t := p.next()
			if t.kind == tParam {
				return fmt.Sprint(x.params[strings.ToLower(t.text)]), nil
			}
			return t.text, nil
		}
		switch strings.ToUpper(kw) {
		case "DIFFERENTIAL":
			o.differential = true
		case "COPY_ONLY":
			o.copyOnly = true
		case "COMPRESSION":
			o.compression = true
		case "NO_COMPRESSION":
			o.compression = false
		case "CHECKSUM":
			o.checksum = true
		case "NORECOVERY":
			o.norecovery = true
		case "RECOVERY":
			o.recovery = true
		case "STANDBY":
			if o.standby, err = value(); err != nil {
				return o, err
			}
		case "REPLACE":
			o.replace = true
		case "NO_TRUNCATE":
			o.noTruncate = true
		case "FORMAT", "INIT", "NOINIT", "SKIP", "NOSKIP", "NO_CHECKSUM", "CONTINUE_AFTER_ERROR", "STOP_ON_ERROR", "UNLOAD", "NOUNLOAD", "REWIND", "NOREWIND", "NOFORMAT":
		case "STATS":
			o.stats = 10
			if p.isOp("=") {
				v, err := value()
				if err != nil {
					return o, err
				}
				fmt.Sscan(v, &o.stats)
			}
		case "MAXTRANSFERSIZE":
			v, err := value()
			if err != nil {
				return o, err
			}
			fmt.Sscan(v, &o.maxTransfer)
			if o.maxTransfer < 65536 || o.maxTransfer > 4<<20 || o.maxTransfer%65536 != 0 {
				return o, sqlErr(3268, 16, "The MAXTRANSFERSIZE value must be a multiple of 65536 between 65536 and 4194304.")
			}
		case "BLOCKSIZE":
			v, err := value()
			if err != nil {
				return o, err
			}
			fmt.Sscan(v, &o.blockSize)
		case "BUFFERCOUNT", "FILE", "MEDIANAME", "MEDIADESCRIPTION", "CREDENTIAL", "EXPIREDATE", "RETAINDAYS":
			if _, err := value(); err != nil {
				return o, err
			}
		case "NAME":
			if o.name, err = value(); err != nil {
				return o, err
			}
		case "DESCRIPTION":
			if o.description, err = value(); err != nil {
				return o, err
			}
		case "MOVE":
			from := p.next().text
			if err := p.expect("TO"); err != nil {
				return o, err
			}
			o.moves[strings.ToLower(from)] = p.next().text
		case "STOPAT":
			v, err := value()
			if err != nil {
				return o, err
			}
			t, err := parseTime(v)
			if err != nil {
				return o, err
			}
			t = x.s.in.flav.fromLocal(wallClock(t)) // STOPAT is the host's local time
			o.stopAt = &t
		default:
			return o, sqlErr(155, 15, fmt.Sprintf("'%s' is not a recognized BACKUP option.", kw))
		}
		if !p.acceptOp(",") {
			return o, nil
		}
	}
}
