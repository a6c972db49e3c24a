// The factory lives under scripts/lab so the benchmarks (part of the build, which excludes test/) share it.
export { makeResult, type ResultFactoryInput, resultTopic } from "../../scripts/lab/result-factory.js";
