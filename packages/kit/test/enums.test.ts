import { failure } from "@parley/testing";
import t from "tap";
import { enumMapping } from "../src/enums";

enum Colour {
  COLOUR_UNSPECIFIED = 0,
  COLOUR_RED = 1,
  COLOUR_DARK_BLUE = 2,
  UNRECOGNIZED = -1,
}
const colours = enumMapping<"red" | "dark_blue", Colour>({
  red: Colour.COLOUR_RED,
  dark_blue: Colour.COLOUR_DARK_BLUE,
});

t.test("maps both ways", async (t) => {
  t.equal(colours.toProto("red"), Colour.COLOUR_RED);
  t.equal(colours.toProto("dark_blue"), Colour.COLOUR_DARK_BLUE);
  t.equal(colours.toDomain(Colour.COLOUR_RED, "colour"), "red");
  t.equal(colours.toDomain(Colour.COLOUR_DARK_BLUE, "colour"), "dark_blue");
  t.equal(colours.toOptional(Colour.COLOUR_DARK_BLUE, "colour"), "dark_blue");
});

t.test("toDomain refuses unset and unknown values, naming the field", async (t) => {
  for (const [value, description] of [
    [Colour.COLOUR_UNSPECIFIED, "must be set"],
    [Colour.UNRECOGNIZED, "has no value -1"],
    [7 as Colour, "has no value 7"],
  ] as const) {
    const refused = await failure(Promise.resolve().then(() => colours.toDomain(value, "paint.colour")));
    t.equal(refused.kind, "invalid_argument");
    t.equal(refused.reason, "VALIDATION_FAILED");
    t.same(refused.fieldViolations, [{ field: "paint.colour", description }]);
  }
});

t.test("toOptional leaves an unset value out and still refuses an unknown one", async (t) => {
  t.equal(colours.toOptional(Colour.COLOUR_UNSPECIFIED, "colour"), undefined);
  const refused = await failure(Promise.resolve().then(() => colours.toOptional(7 as Colour, "colour")));
  t.same(refused.fieldViolations, [{ field: "colour", description: "has no value 7" }]);
});
