# The two commands of the README, plus their helpers. Each script says what it does.
.PHONY: up down test guest build bench fuzz

up:        ## install what is missing, build, start libvirtd (if none answers), engine and agent
	@scripts/up.sh

down:      ## stop what `make up` started, by PID; VMs' disks and all state stay
	@scripts/down.sh

test:      ## install what the tests need, then run the whole suite; exit status is the verdict
	@scripts/test.sh

bench:     ## install, build release binaries, run the benchmark suite (ARGS=--quick, ARGS='b3 --db sqlite')
	@scripts/bench.sh $(ARGS)

fuzz:      ## property-based fuzzing of parsers and translators: 10^7 cases per target, release build (CASES=n)
	@scripts/fuzz.sh $(CASES)

guest:     ## build (or find cached) the test guest
	@guest/build.sh

build:
	cargo build --release --bin oxvirt-engine --bin oxvirt-agent
