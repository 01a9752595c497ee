package main

func cmdThroughput(args []string) { die("throughput: not yet") }
