/*
 * dataset_builtin.c - the text of the built-in datasets.  Written for joule
 * (no record is taken from a published dataset), so the sets can ship in the
 * library and every install measures the same prompts.
 */
#include "dataset.h"
#include "joule_int.h"

#include <inttypes.h>

/* summaries: documents of 80 to 200 words on everyday and technical topics,
 * each with a one- or two-sentence reference summary. */
const struct joule_ds_pair joule_ds_summaries[] = {
    {"A compost heap works best when it gets a mix of green and brown material. Green "
     "material, such as vegetable peelings, coffee grounds and fresh grass clippings, is rich "
     "in nitrogen and breaks down quickly. Brown material, such as dry leaves, straw and "
     "shredded cardboard, adds carbon and keeps the heap from turning into a wet, smelly mass. "
     "A rough rule is to add two or three parts brown for every part green. The microbes that "
     "do the work also need air and moisture, so the heap should be turned every week or two "
     "and kept about as damp as a wrung-out sponge. Meat, dairy and oily food attract pests "
     "and are better left out. With regular turning, a well-balanced heap can become dark, "
     "crumbly compost in two to four months.",
     "Compost forms fastest from a balanced mix of nitrogen-rich green and carbon-rich brown "
     "material, kept moist and turned regularly; meat, dairy and oily food should be left "
     "out."},
    {"A refrigerator does not make cold; it moves heat out of the food compartment and releases "
     "it into the kitchen. It does this with a refrigerant that circulates in a closed loop. "
     "Inside the fridge, the liquid refrigerant passes through an evaporator, where it boils "
     "at a low temperature and absorbs heat from the air around it. A compressor then squeezes "
     "the vapour, raising its pressure and temperature. In the coils at the back or bottom of "
     "the appliance, the hot vapour gives up its heat to the room and condenses back into a "
     "liquid. Finally, an expansion valve drops the pressure again and the cycle repeats. This "
     "is why the back of a fridge feels warm, and why dusty coils or a tightly packed space "
     "behind it make the compressor run longer and use more electricity.",
     "A refrigerator pumps heat out of its interior with a circulating refrigerant that "
     "evaporates inside and condenses in the rear coils, so blocked or dusty coils make it "
     "use more energy."},
    {"Spaced repetition is a study method that schedules reviews of material at growing "
     "intervals. Instead of rereading a chapter many times in one evening, a learner reviews "
     "a fact shortly after first seeing it, then again a few days later, then after a week or "
     "two, and so on. Each successful recall pushes the next review further into the future, "
     "while a failed recall brings the item back sooner. The method relies on the observation "
     "that memories fade quickly at first and more slowly after each retrieval, and that "
     "effortful recall strengthens memory more than passive reading. Flashcard programs "
     "automate the schedule, but the same idea works with paper cards sorted into boxes. "
     "Language vocabulary, medical terms and legal definitions are common uses.",
     "Spaced repetition schedules reviews at growing intervals that depend on whether recall "
     "succeeds, using effortful retrieval to make memories last; it works with software or "
     "paper cards."},
    {"Tides are the regular rise and fall of sea level along coasts. They are caused mainly by "
     "the gravitational pull of the Moon, with a smaller contribution from the Sun. The Moon "
     "pulls slightly harder on the side of the Earth facing it than on the far side, and this "
     "difference stretches the oceans into two bulges, one toward the Moon and one away from "
     "it. As the Earth rotates, most coastlines pass through both bulges each day, giving two "
     "high tides and two low tides roughly every twenty-five hours. When the Sun and Moon line "
     "up, at new and full moon, their effects add together and produce larger spring tides. "
     "When they are at right angles, the smaller neap tides occur. The shape of coastlines and "
     "the sea floor can make local tides much larger or smaller than average.",
     "Tides come mostly from the Moon's uneven pull, which raises two ocean bulges that coasts "
     "pass through daily; alignment with the Sun makes larger spring tides and right angles "
     "make smaller neap tides."},
    {"A password manager is a program that stores login details in an encrypted vault. The "
     "user remembers one strong master password, and the manager fills in the others, which "
     "can then be long, random and different for every site. This matters because many "
     "account breaches start with passwords that were reused: when one website leaks its user "
     "list, attackers try the same email and password pairs on banks, shops and email "
     "providers. A manager removes the temptation to reuse by making unique passwords no harder "
     "to use than a single favourite one. Most managers also warn when a saved password "
     "appears in a known leak. The main risk moves to the master password and the device, so "
     "it is wise to protect the vault with two-factor authentication and to keep a recovery "
     "method somewhere safe.",
     "A password manager keeps unique random passwords in an encrypted vault behind one master "
     "password, preventing the reuse that leaks exploit, though the master password and "
     "device then need strong protection."},
    {"Bicycle gears let a rider keep pedalling at a comfortable pace while the speed and slope "
     "change. The chain connects a chainring at the pedals to one of several sprockets on the "
     "rear wheel. A small chainring paired with a large rear sprocket gives a low gear: each "
     "turn of the pedals moves the bike only a short distance, but little force is needed, "
     "which helps on steep hills. A large chainring with a small sprocket gives a high gear "
     "for flat roads and descents, covering more ground per pedal stroke at the cost of more "
     "effort. Riders are advised to shift before a climb rather than halfway up, and to avoid "
     "crossing the chain from the largest ring to the largest sprocket, which bends the chain "
     "sideways and wears the parts faster.",
     "Gears trade force for distance: small chainring and large sprocket for climbing, the "
     "reverse for speed; shift early before hills and avoid extreme cross-chaining."},
    {"Heat pumps heat homes by moving warmth from outside air, the ground or water into the "
     "building, using the same refrigeration cycle as a fridge run in reverse. Because they "
     "move heat rather than create it by burning fuel or heating a wire, they can deliver "
     "three or four units of heat for each unit of electricity they consume. Their efficiency "
     "falls as the outdoor temperature drops, since there is less heat to gather and a larger "
     "temperature gap to push it across, but modern units keep working well below freezing. "
     "They perform best in well-insulated houses with large radiators or underfloor heating, "
     "which can warm rooms with water at a lower temperature. Many models can also run in "
     "reverse in summer to provide cooling.",
     "Heat pumps move outside heat indoors and deliver several units of heat per unit of "
     "electricity, working best in insulated homes with low-temperature heating, though their "
     "efficiency falls in cold weather."},
    {"Lithium-ion batteries lose capacity in the cold for chemical rather than mysterious "
     "reasons. The lithium ions that carry charge between the electrodes move through a liquid "
     "electrolyte, and that liquid becomes more sluggish as it cools. Internal resistance "
     "rises, so the battery cannot deliver as much current, and its voltage sags under load. "
     "A phone may shut down at what the display says is twenty percent because the voltage "
     "briefly drops below the cut-off. Most of the capacity returns once the battery warms up. "
     "Charging in the cold is more harmful than using the battery: below freezing, lithium "
     "can plate onto the anode as metal instead of entering it, which permanently reduces "
     "capacity. For that reason electric cars warm their packs before fast charging in "
     "winter.",
     "Cold thickens a lithium-ion battery's electrolyte, raising resistance so devices may shut "
     "down early; capacity returns when warm, but charging below freezing can cause permanent "
     "damage."},
    {"Sourdough bread rises without packaged yeast. Instead, the baker keeps a starter, a "
     "mixture of flour and water that hosts wild yeasts and lactic acid bacteria. The yeasts "
     "produce carbon dioxide that leavens the dough, while the bacteria produce acids that "
     "give the bread its tangy flavour and help it keep longer. A starter is fed regularly by "
     "discarding part of it and adding fresh flour and water; at room temperature this may "
     "be daily, while a starter kept in the refrigerator can go a week or more between "
     "feedings. A healthy starter roughly doubles in volume a few hours after feeding and "
     "smells pleasantly sour. Because wild fermentation is slower than commercial yeast, "
     "sourdough loaves often take most of a day from mixing to baking.",
     "Sourdough is leavened by a regularly fed starter of wild yeasts and bacteria, which "
     "gives a sour flavour and better keeping but needs a much longer rise than commercial "
     "yeast."},
    {"Version control systems record the history of a set of files. Every time an author "
     "saves a meaningful step, called a commit, the system stores what changed, who changed "
     "it, when, and a short message explaining why. Any earlier state can be restored, two "
     "versions can be compared line by line, and the cause of a new problem can be traced to "
     "the change that introduced it. Branches let several people work on separate ideas at "
     "the same time and merge them later, with the system pointing out places where two "
     "changes conflict. Although the tools were built for program source code, writers, "
     "researchers and designers use them for documents, data and configuration files as well. "
     "The habit that matters most is committing small, well-described changes often.",
     "Version control keeps a described history of changes so files can be restored, compared "
     "and traced, and branches allow parallel work that is merged later; small, frequent "
     "commits work best."},
    {"Trees planted along streets do more than make a neighbourhood look pleasant. Their "
     "shade keeps pavements and building walls from soaking up the full heat of the sun, and "
     "water evaporating from their leaves cools the surrounding air. On a summer afternoon, a "
     "shaded street can be several degrees cooler than a bare one nearby, which reduces the "
     "demand for air conditioning in the buildings beside it. Street trees also slow "
     "rainwater on its way to drains, trap some dust, and give birds and insects places to "
     "live. They need care to deliver these benefits: young trees must be watered through "
     "their first dry seasons, and roots need enough uncovered soil to spread without "
     "lifting the pavement.",
     "Street trees cool neighbourhoods through shade and evaporation, cutting air-conditioning "
     "demand and helping with rainwater, dust and wildlife, provided young trees are watered "
     "and roots have room."},
    {"Coffee brewing is a process of extraction: hot water dissolves flavour compounds from "
     "the ground beans. Acids and fruity notes dissolve first, followed by sugars and then "
     "bitter compounds. If too little is extracted, the cup tastes sour and thin; if too much, "
     "it tastes harsh and bitter. Grind size is the main control. Fine grounds expose more "
     "surface and extract quickly, which suits espresso's short brewing time, while coarse "
     "grounds suit a French press, where the coffee steeps for several minutes. Water "
     "temperature, brewing time and the ratio of coffee to water also matter. A common "
     "starting point is about sixty grams of coffee per litre of water, adjusted by taste: "
     "sour calls for a finer grind or longer brew, bitter for the opposite.",
     "Coffee flavour depends on extraction, controlled mainly by grind size along with "
     "temperature, time and ratio; sour coffee needs more extraction and bitter coffee less."},
    {"Interlibrary loan lets a library borrow material it does not own from another library on "
     "behalf of a reader. A patron who needs an out-of-print book or an article from a "
     "specialist journal fills in a request, and library staff search shared catalogues to "
     "find a lending institution. Books usually arrive by post or courier within one to three "
     "weeks and must be read within the lending library's loan period, sometimes only inside "
     "the building. Journal articles are often supplied as scanned copies, subject to "
     "copyright limits on how much can be copied. The service may be free or carry a small "
     "fee. For researchers outside large universities, it can be the only practical way to "
     "reach older or rare publications.",
     "Interlibrary loan obtains books and article copies from other libraries for a reader, "
     "usually within weeks and under the lender's conditions, giving access to rare or "
     "out-of-print material."},
};
const size_t joule_ds_n_summaries = JOULE_ARRAY_LEN(joule_ds_summaries);

/* questions: each answer is one word or number, exact enough to score by
 * string comparison. */
const struct joule_ds_pair joule_ds_questions[] = {
    {"How many legs does a spider have?", "8"},
    {"What is the chemical symbol for gold?", "Au"},
    {"Which planet is closest to the Sun?", "Mercury"},
    {"How many days are in a leap year?", "366"},
    {"At sea level, at what temperature in degrees Celsius does water boil?", "100"},
    {"Which gas makes up most of the Earth's atmosphere?", "Nitrogen"},
    {"How many sides does a hexagon have?", "6"},
    {"What is the largest ocean on Earth?", "Pacific"},
    {"What is the square root of 144?", "12"},
    {"How many minutes are in a day?", "1440"},
    {"Which element has the chemical symbol O?", "Oxygen"},
    {"What is the capital city of Japan?", "Tokyo"},
    {"What is the capital city of Canada?", "Ottawa"},
    {"How many continents are there on Earth?", "7"},
    {"At what temperature in degrees Fahrenheit does water freeze?", "32"},
    {"Which planet in our solar system has the most visible rings?", "Saturn"},
    {"How many bits are in a byte?", "8"},
    {"What is the largest planet in our solar system?", "Jupiter"},
    {"In which country are the pyramids of Giza?", "Egypt"},
    {"How many strings does a standard violin have?", "4"},
    {"What is 15 multiplied by 12?", "180"},
    {"What is the hardest natural mineral?", "Diamond"},
    {"Which organ pumps blood around the human body?", "Heart"},
    {"What is the smallest prime number?", "2"},
    {"How many hours are in a week?", "168"},
    {"Who wrote the play Romeo and Juliet?", "Shakespeare"},
    {"What is the main language spoken in Brazil?", "Portuguese"},
    {"How many players from one team are on the field in a game of association football?", "11"},
    {"What is the chemical formula of water?", "H2O"},
    {"Which metal is liquid at room temperature?", "Mercury"},
    {"How many degrees are in a right angle?", "90"},
    {"What is the capital city of Australia?", "Canberra"},
};
const size_t joule_ds_n_questions = JOULE_ARRAY_LEN(joule_ds_questions);

/* instructions: open tasks with no single right answer, so no reference. */
const struct joule_ds_pair joule_ds_instructions[] = {
    {"Write a short poem about the first snow of winter.", NULL},
    {"Explain how a rainbow forms, in three sentences.", NULL},
    {"Give five practical tips for saving energy at home.", NULL},
    {"Describe the taste of a ripe mango to someone who has never eaten one.", NULL},
    {"Write a polite note asking a neighbour to trim a hedge that blocks the pavement.", NULL},
    {"List the steps to repair a flat bicycle tyre.", NULL},
    {"Explain the difference between weather and climate.", NULL},
    {"Suggest three names for a small bakery that sells bread made from local grain.", NULL},
    {"Write a story of under 150 words about a lighthouse keeper who finds a message in a "
     "bottle.",
     NULL},
    {"Explain what a hash table is to someone who has just started programming.", NULL},
    {"Give a packing list for a two-day hiking trip in autumn.", NULL},
    {"Translate the sentence into French.", "The library opens at nine o'clock tomorrow."},
    {"Rewrite the text in plain language.",
     "Pursuant to the aforementioned regulations, residents are hereby advised that refuse "
     "collection shall be suspended on public holidays."},
    {"Classify the sentiment of the review as positive, negative or mixed.",
     "The room was spotless and the staff were kind, but the street noise kept us awake all "
     "night."},
    {"Correct the grammar and spelling.",
     "Their going too the market tomorow to by some apple's for the pie."},
    {"Write a haiku about a city bus at dawn.", NULL},
    {"Explain why the sky looks blue during the day.", NULL},
    {"Propose a weekly plan for learning the guitar with thirty minutes of practice a day.", NULL},
    {"Describe three ways a small office could use less paper.", NULL},
    {"Write a product description for a reusable steel water bottle.", NULL},
    {"Explain how compound interest works, using a simple example.", NULL},
    {"Give the main arguments for and against a four-day working week.", NULL},
    {"List the names of all the people mentioned in the text.",
     "At the meeting, Priya presented the budget, Tomas asked about travel costs, and Helen "
     "agreed to follow up with the suppliers."},
    {"Write a simple recipe for a vegetable soup that serves four people.", NULL},
    {"Explain what causes the seasons on Earth.", NULL},
    {"Summarize the advantages of taking the train instead of a short-haul flight.", NULL},
};
const size_t joule_ds_n_instructions = JOULE_ARRAY_LEN(joule_ds_instructions);

/* ---------------------------------------------------------------------------
 * arithmetic: word problems from eight templates, numbers drawn from
 * splitmix64 seeded per problem, so problem i never depends on how many
 * came before it.
 */

#define ARITH_SEED 0x6A6F756C65ULL /* "joule" */

/* A draw in [lo, hi]. */
static int64_t draw(uint64_t *state, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(joule_ds_splitmix64(state) % (uint64_t)(hi - lo + 1));
}

/* n with thousands separators ("12,500"), as GSM8K writes large answers. */
static void with_commas(int64_t n, char *buf, size_t size)
{
    char digits[32];
    joule_fmt(digits, sizeof(digits), "%" PRId64, n);
    size_t len = strlen(digits), w = 0;
    for (size_t i = 0; i < len && w + 1 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0 && w + 2 < size)
            buf[w++] = ',';
        buf[w++] = digits[i];
    }
    buf[w] = '\0';
}

void joule_ds_arithmetic(size_t i, char *q, size_t qn, char *ref, size_t rn, int64_t *answer)
{
    uint64_t st = ARITH_SEED + (uint64_t)i * 0x100000001B3ULL;
    int64_t a, b, c, dd, x, y, ans;
    switch (i % 8) {
    case 0:
        a = draw(&st, 12, 48);
        b = draw(&st, 3, 9);
        c = draw(&st, 1, a * b - 1);
        ans = a * b - c;
        joule_fmt(q, qn,
                  "A baker makes %" PRId64 " loaves each day for %" PRId64 " days and sells "
                  "%" PRId64 " of them. How many loaves are left?",
                  a, b, c);
        joule_fmt(ref, rn,
                  "The baker makes %" PRId64 " * %" PRId64 " = %" PRId64 " loaves. After "
                  "selling %" PRId64 ", %" PRId64 " - %" PRId64 " = %" PRId64
                  " loaves are left.\n#### %" PRId64,
                  a, b, a * b, c, a * b, c, ans, ans);
        break;
    case 1:
        a = draw(&st, 4, 20);
        b = draw(&st, 15, 60);
        c = draw(&st, 10, 99);
        ans = a * b + c;
        joule_fmt(q, qn,
                  "A library has %" PRId64 " shelves with %" PRId64 " books on each shelf. "
                  "It receives a donation of %" PRId64 " more books. How many books does the "
                  "library have now?",
                  a, b, c);
        joule_fmt(ref, rn,
                  "The shelves hold %" PRId64 " * %" PRId64 " = %" PRId64 " books. With the "
                  "donation there are %" PRId64 " + %" PRId64 " = %" PRId64
                  " books.\n#### %" PRId64,
                  a, b, a * b, a * b, c, ans, ans);
        break;
    case 2:
        a = draw(&st, 5, 40);
        b = draw(&st, 3, 20);
        ans = b;
        joule_fmt(q, qn,
                  "Maya saves %" PRId64 " dollars every week. How many weeks does she need "
                  "to save %" PRId64 " dollars?",
                  a, a * b);
        joule_fmt(ref, rn,
                  "Each week adds %" PRId64 " dollars, so she needs %" PRId64 " / %" PRId64
                  " = %" PRId64 " weeks.\n#### %" PRId64,
                  a, a * b, a, ans, ans);
        break;
    case 3:
        a = draw(&st, 40, 120);
        b = draw(&st, 2, 6);
        c = draw(&st, 30, 90);
        dd = draw(&st, 1, 4);
        x = a * b;
        y = c * dd;
        ans = x + y;
        joule_fmt(q, qn,
                  "A train travels at %" PRId64 " kilometres per hour for %" PRId64
                  " hours, then at %" PRId64 " kilometres per hour for %" PRId64
                  " hours. How many kilometres does it travel in total?",
                  a, b, c, dd);
        joule_fmt(ref, rn,
                  "The first part covers %" PRId64 " * %" PRId64 " = %" PRId64
                  " km and the second %" PRId64 " * %" PRId64 " = %" PRId64 " km, so the "
                  "total is %" PRId64 " + %" PRId64 " = %" PRId64 " km.\n#### %" PRId64,
                  a, b, x, c, dd, y, x, y, ans, ans);
        break;
    case 4:
        c = draw(&st, 2, 8);
        a = c * draw(&st, 2, 6);
        b = draw(&st, 6, 24);
        ans = a * b / c;
        joule_fmt(q, qn,
                  "A school buys %" PRId64 " boxes of pencils with %" PRId64 " pencils in "
                  "each box and shares them equally among %" PRId64 " classes. How many "
                  "pencils does each class get?",
                  a, b, c);
        joule_fmt(ref, rn,
                  "There are %" PRId64 " * %" PRId64 " = %" PRId64 " pencils, so each class "
                  "gets %" PRId64 " / %" PRId64 " = %" PRId64 " pencils.\n#### %" PRId64,
                  a, b, a * b, a * b, c, ans, ans);
        break;
    case 5: {
        char big[32];
        a = draw(&st, 120, 950);
        b = draw(&st, 6, 16);
        c = draw(&st, 5, 30);
        ans = a * b * c;
        with_commas(ans, big, sizeof(big));
        joule_fmt(q, qn,
                  "A factory makes %" PRId64 " parts an hour and runs %" PRId64 " hours a "
                  "day. How many parts does it make in %" PRId64 " days?",
                  a, b, c);
        /* The answer with separators, as large GSM8K answers are written. */
        joule_fmt(ref, rn,
                  "Each day it makes %" PRId64 " * %" PRId64 " = %" PRId64 " parts, so in "
                  "%" PRId64 " days it makes %" PRId64 " * %" PRId64 " = %" PRId64
                  " parts.\n#### %s",
                  a, b, a * b, c, a * b, c, ans, big);
        break;
    }
    case 6:
        b = draw(&st, 2, 9);
        a = draw(&st, 20, 90);
        c = draw(&st, 1, (a - 1) / b);
        ans = a - b * c;
        joule_fmt(q, qn,
                  "Sam has %" PRId64 " marbles and gives %" PRId64 " marbles to each of his "
                  "%" PRId64 " friends. How many marbles does Sam have left?",
                  a, c, b);
        joule_fmt(ref, rn,
                  "Sam gives away %" PRId64 " * %" PRId64 " = %" PRId64 " marbles, so he has "
                  "%" PRId64 " - %" PRId64 " = %" PRId64 " left.\n#### %" PRId64,
                  b, c, b * c, a, b * c, ans, ans);
        break;
    default:
        a = draw(&st, 5, 40);
        b = draw(&st, 3, 30);
        ans = 2 * (a + b);
        joule_fmt(q, qn,
                  "A rectangular garden is %" PRId64 " metres long and %" PRId64 " metres "
                  "wide. How many metres of fence are needed to go all the way around it?",
                  a, b);
        joule_fmt(ref, rn,
                  "The perimeter is 2 * (%" PRId64 " + %" PRId64 ") = %" PRId64
                  " metres.\n#### %" PRId64,
                  a, b, ans, ans);
        break;
    }
    *answer = ans;
}
