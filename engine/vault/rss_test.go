package vault

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// rssChild ingests VAULT_RSS_BYTES of new page-like data as 4 stripes
// uploaded concurrently in 4 MiB blocks (as SQL Server does with 4 URLs),
// commits them, and prints its peak resident set (VmHWM).
func rssChild(dir string) {
	ctx := context.Background()
	total, _ := strconv.ParseInt(os.Getenv("VAULT_RSS_BYTES"), 10, 64)
	b, _ := NewDirBackend(dir)
	v, err := Create(ctx, b, pass, Options{})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	const block = 4 << 20
	per := total / 4 / block * block
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for s := range 4 {
		wg.Go(func() {
			gen := NewPageGen(uint64(1000 + s))
			buf := make([]byte, block) // one block in flight per stripe, as the device holds it
			blob := fmt.Sprintf("big/stripe%d.bak", s)
			var ids []string
			for off := int64(0); off < per; off += block {
				gen.Fill(buf, off)
				id := fmt.Sprintf("%010d", off/block)
				if errs[s] = v.PutBlock(ctx, blob, id, buf); errs[s] != nil {
					return
				}
				ids = append(ids, id)
			}
			_, errs[s] = v.CommitBlob(ctx, blob, ids, nil)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			fmt.Println("error", err)
			return
		}
	}
	st, _ := v.Stats(ctx)
	fmt.Printf("ingested %d logical %d stored %d\n", 4*per, st.LogicalBytes, st.StoredBytes)
	f, _ := os.Open("/proc/self/status")
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "VmHWM:") {
			fmt.Println(sc.Text())
		}
	}
}

// TestIngestMemoryBounded ingests a stream striped 4 ways in a child
// process and checks its peak RSS stays under 512 MiB. The suite uses
// 1 GiB; SQLVAULT_BIG=1 runs the 4 GiB of the requirement.
func TestIngestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc/self/status to read the peak RSS from")
	}
	size := int64(1 << 30)
	if os.Getenv("SQLVAULT_BIG") == "1" {
		size = 4 << 30
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "VAULT_RSS_DIR="+t.TempDir(), "VAULT_RSS_BYTES="+strconv.FormatInt(size, 10))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var kib int64 = -1
	var ingested int64
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kib, _ = strconv.ParseInt(f[1], 10, 64)
		}
		if strings.HasPrefix(line, "ingested ") {
			fmt.Sscanf(line, "ingested %d", &ingested)
		}
		if strings.HasPrefix(line, "error") {
			t.Fatal(line)
		}
	}
	if kib < 0 || ingested != size {
		t.Fatalf("child output: %s", out)
	}
	t.Logf("ingested %d MiB in 4 stripes: peak RSS %d MiB", size>>20, kib>>10)
	if kib > 512<<10 {
		t.Fatalf("peak RSS %d MiB over the 512 MiB bound", kib>>10)
	}
}
