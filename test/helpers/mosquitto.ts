/** The private Mosquitto lives in scripts/lab so the benchmarks can start one too. */
export * from "../../scripts/lab/mosquitto.js";
