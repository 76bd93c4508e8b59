#!/usr/bin/env node
// A committed, executable entry: npm links bins before tsc has built dist/, so the bin cannot point there.
import '../dist/main.js';
