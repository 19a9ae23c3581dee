"""Word lists the simulator reads and writes with: stop words, filler phrases and a small glossary.

The glossary doubles as the simulator's notion of "technical vocabulary": a prompt that uses these
words needs its terms explained, and a response that defines them earns credit from the judge.
"""

from __future__ import annotations

STOP_WORDS: frozenset[str] = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down
    during each either else even ever every few for from further get gets getting give given go goes going
    good got had hadn't has hasn't have haven't having he her here hers herself him himself his how however
    i if in into is isn't it it's its itself just know let like likely make makes many may me might more
    most much must my myself need needs no nor not now of off often on once one only or other others our
    ours ourselves out over own please put quite rather really said same say says see seem seems shall she
    should shouldn't show so some something such sure take tell than that that's the their theirs them
    themselves then there there's these they thing things think this those though through thus to too
    under until up upon us use used using very want was wasn't way ways we well were weren't what what's
    when where whether which while who whom whose why will with within without won't would wouldn't yes
    yet you you'd you'll you're you've your yours yourself yourselves able answer question questions write
    explain describe list give provide help example examples briefly short long detail details different
    difference best better important main simple kind sort lot lots new old first second third two three
    four five year years time times day days people person thanks thank hello hi hey okay ok user assistant
    add fix try bit end ask etc via per i'm i've i'd i'll am
    """.split()
)

OPENER_FILLERS: tuple[str, ...] = (
    "Great question!",
    "Certainly!",
    "Sure, I'd be happy to help with that!",
    "What a wonderful thing to ask about!",
    "Absolutely, let's dive in!",
)

CLOSER_FILLERS: tuple[str, ...] = (
    "I hope this helps!",
    "Let me know if you have any other questions.",
    "Feel free to ask if anything is unclear!",
    "Happy to help further if you need it!",
)

PADDING_SENTENCES: tuple[str, ...] = (
    "This is a really interesting topic that many people wonder about.",
    "It is worth taking a moment to think about this carefully.",
    "There are many different aspects to consider here.",
    "Of course, everyone's situation is a little different.",
    "In other words, it all depends on the details, as is so often the case.",
)

FILLER_PHRASES: tuple[str, ...] = tuple(
    phrase.lower().rstrip("!.") for phrase in OPENER_FILLERS + CLOSER_FILLERS + PADDING_SENTENCES
)
"""Lower-case filler phrases without their final punctuation, as the judge looks for them."""

GLOSSARY: dict[str, str] = {
    "algorithm": "a precise step-by-step procedure for solving a problem",
    "api": "an interface that lets one program request services from another",
    "asynchronous": "work that proceeds without waiting for each step to finish first",
    "bandwidth": "the amount of data a connection can carry per second",
    "blockchain": "a shared ledger made of linked, tamper-evident records",
    "cache": "a fast store that keeps recent results so they need not be recomputed",
    "compiler": "a program that translates source code into machine instructions",
    "concurrency": "several tasks making progress in overlapping time periods",
    "database": "an organised store of data that can be queried",
    "encryption": "scrambling data so only holders of the key can read it",
    "entropy": "a measure of disorder or uncertainty in a system",
    "enzyme": "a protein that speeds up a chemical reaction in the body",
    "gradient": "the direction and rate of steepest change of a function",
    "hash": "a fixed-size fingerprint computed from data",
    "inflation": "a general rise in prices that lowers what money can buy",
    "kubernetes": "a system that runs and scales containerised applications",
    "latency": "the delay between a request and its response",
    "machine learning": "software that improves at a task by learning patterns from data",
    "metabolism": "the chemical processes a body uses to turn food into energy",
    "microservices": "an application built from many small, independently deployed services",
    "mitochondria": "the structures in a cell that produce most of its energy",
    "neural network": "a model made of layers of simple connected units that learn from data",
    "photosynthesis": "the process plants use to turn light, water and carbon dioxide into sugar",
    "polymorphism": "one interface working with objects of different types",
    "protocol": "an agreed set of rules for exchanging messages",
    "quantum": "relating to the smallest discrete units of energy and matter",
    "recursion": "a function solving a problem by calling itself on smaller parts",
    "regression": "a statistical method for estimating how variables relate",
    "interest rate": "the price of borrowing money, given as a yearly percentage",
    "compound interest": "interest earned on both the original sum and past interest",
    "amortization": "paying off a debt in regular instalments over time",
    "diversification": "spreading money across different investments to reduce risk",
    "derivative": "the rate at which a quantity changes",
    "integral": "the accumulated total of a quantity over a range",
    "vaccine": "a preparation that trains the immune system to recognise a disease",
    "antibody": "a protein the immune system makes to tag invaders",
    "genome": "the complete set of genetic instructions of an organism",
    "dna": "the molecule that carries genetic instructions",
    "thermodynamics": "the physics of heat, work and energy",
    "relativity": "Einstein's theory linking space, time and gravity",
    "osmosis": "water moving through a membrane toward the more concentrated side",
    "tcp": "a protocol that delivers data reliably and in order",
    "http": "the protocol browsers and servers use to exchange web pages",
    "sql": "a language for querying and changing data in relational databases",
    "json": "a lightweight text format for structured data",
    "docker": "a tool that packages software with everything it needs to run",
    "virtualization": "running several simulated computers on one physical machine",
    "overfitting": "a model memorising its training data instead of learning general patterns",
    "tokenization": "splitting text into small units a model can process",
    "transformer": "a neural network architecture built around attention",
    "backpropagation": "the method neural networks use to compute how to adjust their weights",
    "dividend": "a share of company profits paid to shareholders",
    "equity": "ownership value after debts are subtracted",
    "liquidity": "how quickly an asset can be turned into cash",
    "carbon footprint": "the total greenhouse gases caused by an activity",
    "greenhouse effect": "gases in the atmosphere trapping heat near the surface",
    "mutex": "a lock that lets only one thread use a resource at a time",
    "deadlock": "tasks stuck forever, each waiting for another to release something",
    "garbage collection": "automatic freeing of memory a program no longer uses",
    "big o": "a notation for how running time grows with input size",
    "binary search": "finding an item in sorted data by repeatedly halving the range",
    "hypertension": "persistently high blood pressure",
    "cholesterol": "a fatty substance in the blood that can clog arteries",
    "insulin": "a hormone that lets cells take up sugar from the blood",
    "supply chain": "the network of steps that gets a product from raw material to buyer",
    "gdp": "the total value of goods and services a country produces",
    "sonnet": "a fourteen-line poem with a set rhyme scheme",
    "metaphor": "describing one thing as if it were another",
    "iambic pentameter": "a line of ten syllables alternating unstressed and stressed",
}

TECHNICAL_SUFFIXES: tuple[str, ...] = ("ization", "ology", "ithm", "itis", "osis", "metry", "genesis", "ectomy")

COMMON_ACRONYMS: frozenset[str] = frozenset({"I", "OK", "US", "UK", "EU", "TV", "AM", "PM", "USA", "FAQ", "DIY"})

JARGON_ASIDES: tuple[str, ...] = (
    "Under the hood this involves nontrivial invariants, idempotency guarantees and amortized complexity bounds.",
    "A rigorous treatment would invoke asymptotic analysis, stochastic convergence and orthogonal decomposition.",
    "Practitioners reason about this via heuristics, isomorphisms and second-order effects.",
)
"""Expert asides a response adds when it pitches itself above the reader; the judge counts their jargon."""

JARGON_WORDS: frozenset[str] = frozenset(
    {
        "invariants",
        "idempotency",
        "amortized",
        "asymptotic",
        "stochastic",
        "orthogonal",
        "heuristics",
        "isomorphisms",
        "second-order",
    }
)

CODE_WORDS: frozenset[str] = frozenset(
    {
        "code",
        "function",
        "script",
        "implement",
        "query",
        "regex",
        "snippet",
        "bug",
        "compile",
        "debug",
        "keyerror",
        "traceback",
        "exception",
        "refactor",
        "algorithm",
    }
)

WRITING_WORDS: frozenset[str] = frozenset(
    {
        "poem",
        "story",
        "essay",
        "email",
        "letter",
        "haiku",
        "song",
        "lyrics",
        "speech",
        "slogan",
        "tweet",
        "blog",
        "post",
        "limerick",
        "toast",
        "bio",
        "cover",
        "summary",
        "summarize",
        "rewrite",
        "paraphrase",
    }
)
