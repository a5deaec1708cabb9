// Command s3putload writes incompressible 16 MiB objects (the size of a
// vault pack) through the vault's BucketBackend.Put, several at a time,
// and prints the rate; with --pid it also prints that process's CPU per
// MB written, read from /proc (docs/performance.md, "Where SeaweedFS's
// CPU goes"). The objects are deleted afterwards.
//
//	AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y go run ./scripts/s3putload \
//	  --url 's3://BUCKET?endpoint=http://127.0.0.1:8333&use_path_style=true&disable_https=true&region=us-east-1' \
//	  --mib 512 --c 4 --pid "$(pgrep -x weed)"
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sqlvault/sqlvault/engine/vault"
)

const objectSize = 16 << 20

func main() {
	url := flag.String("url", "", "bucket URL (s3://...)")
	mib := flag.Int("mib", 512, "MiB to write")
	writers := flag.Int("c", 4, "objects written at once")
	pid := flag.Int("pid", 0, "a process (the store) whose CPU per MB written to print")
	flag.Parse()
	ctx := context.Background()
	b, err := vault.NewBucketBackend(ctx, *url)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	n := *mib / 16
	prefix := fmt.Sprintf("s3putload-%d/", time.Now().UnixNano())
	cpu0 := cpuTicks(*pid)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range *writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := make([]byte, objectSize)
			rand.Read(data)
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				data[0] = byte(i) // no two objects alike
				if err := b.Put(ctx, fmt.Sprintf("%s%05d", prefix, i), data); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1 := cpuTicks(*pid)
	if err, ok := failed.Load().(error); ok {
		log.Fatal(err)
	}
	mb := float64(n*objectSize) / 1e6
	fmt.Printf("%d MiB in %.2f s with %d at once: %.1f MB/s\n", n*16, elapsed.Seconds(), *writers, mb/elapsed.Seconds())
	if *pid != 0 {
		// /proc/PID/stat counts in clock ticks, 100 a second on Linux.
		fmt.Printf("process %d: %.2f s of CPU, %.2f ms per MB written\n", *pid, float64(cpu1-cpu0)/100, float64(cpu1-cpu0)*10/mb)
	}
	names, _ := b.List(ctx, prefix)
	for _, name := range names {
		b.Delete(ctx, name)
	}
}

// cpuTicks answers the user and system CPU of a process in clock ticks.
func cpuTicks(pid int) int64 {
	if pid == 0 {
		return 0
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		log.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime
}
