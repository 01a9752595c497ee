package main

func cmdCheck(args []string) int {
	return fail(exSoftware, "check: not yet")
}
