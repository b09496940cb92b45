"""Category vocabularies for product titles, descriptions and search queries.

Text is built from these word lists so that text models (title/description
embeddings, query matching) find real signal: products of one category share
nouns and adjectives, and search queries use the same words.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    name: str
    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]
    brands: tuple[str, ...]
    features: tuple[str, ...]
    median_price: float


CATEGORIES: tuple[Category, ...] = (
    Category("electronics", ("headphones", "speaker", "charger", "tablet", "smartwatch", "camera", "keyboard", "monitor"),
             ("wireless", "portable", "smart", "compact", "noise-cancelling", "ultra-hd"),
             ("Voltix", "Sonora", "Pixelon", "Ampero"),
             ("long battery life", "fast charging", "bluetooth 5.3", "usb-c port", "two-year warranty"), 120.0),
    Category("home_kitchen", ("blender", "kettle", "pan", "knife set", "toaster", "coffee maker", "mug", "cutting board"),
             ("stainless", "non-stick", "ceramic", "electric", "classic", "compact"),
             ("Cucina", "Hearth&Co", "Brava", "Kettleby"),
             ("dishwasher safe", "bpa free", "easy to clean", "energy saving", "family size"), 45.0),
    Category("fashion", ("t-shirt", "jeans", "jacket", "sneakers", "dress", "scarf", "hoodie", "boots"),
             ("slim", "organic cotton", "waterproof", "vintage", "oversized", "lightweight"),
             ("Northwind", "Urbana", "Linea", "Mosso"),
             ("machine washable", "recycled fabric", "regular fit", "all-season", "breathable"), 40.0),
    Category("beauty", ("face cream", "shampoo", "lipstick", "perfume", "serum", "sunscreen", "body lotion"),
             ("hydrating", "vegan", "fragrance-free", "natural", "anti-aging", "matte"),
             ("Lumea", "Verdance", "Rosalie", "Purea"),
             ("dermatologically tested", "cruelty free", "spf 30", "for sensitive skin", "travel size"), 22.0),
    Category("sports", ("yoga mat", "dumbbells", "running shoes", "water bottle", "tennis racket", "bike helmet"),
             ("adjustable", "non-slip", "ergonomic", "lightweight", "professional", "foldable"),
             ("Stridex", "Peakform", "Velocita", "Kinetiq"),
             ("sweat resistant", "for beginners", "competition grade", "includes carry bag", "shock absorbing"), 35.0),
    Category("toys", ("puzzle", "building blocks", "plush bear", "board game", "toy car", "doll house"),
             ("educational", "colourful", "wooden", "interactive", "classic", "giant"),
             ("Playmo", "Kidora", "Brickly", "Tumbleweed"),
             ("ages 3 and up", "non-toxic paint", "1000 pieces", "family game night", "batteries included"), 25.0),
    Category("books", ("novel", "cookbook", "travel guide", "biography", "comic", "notebook"),
             ("bestselling", "illustrated", "hardcover", "paperback", "signed", "annotated"),
             ("Inkwell Press", "Folio House", "Quarto", "Marginalia"),
             ("first edition", "large print", "with recipes", "award winning", "new translation"), 15.0),
    Category("garden", ("hose", "planter", "lawn mower", "seed kit", "garden gloves", "bird feeder"),
             ("weatherproof", "solar", "heavy-duty", "organic", "self-watering", "cordless"),
             ("Greenleaf", "Terrano", "Bloomfield", "Rootwise"),
             ("uv resistant", "rust proof", "easy assembly", "for balconies", "frost resistant"), 38.0),
    Category("grocery", ("coffee beans", "olive oil", "dark chocolate", "green tea", "pasta", "honey"),
             ("organic", "fair trade", "artisan", "gluten-free", "premium", "single origin"),
             ("Fattoria", "Mielo", "Cacao Verde", "Teahouse"),
             ("cold pressed", "stone ground", "resealable pack", "vegan", "small batch"), 9.0),
    Category("pets", ("dog food", "cat litter", "chew toy", "pet bed", "leash", "scratching post"),
             ("grain-free", "durable", "orthopedic", "reflective", "natural", "washable"),
             ("Pawsome", "Whisker&Co", "Barkley", "Furra"),
             ("vet approved", "for large breeds", "odour control", "high protein", "machine washable"), 28.0),
    Category("office", ("desk lamp", "office chair", "fountain pen", "planner", "monitor stand", "stapler"),
             ("ergonomic", "adjustable", "minimalist", "refillable", "led", "bamboo"),
             ("Deskwise", "Scriba", "Officio", "Lumina"),
             ("height adjustable", "eye care light", "includes refills", "cable management", "2026 edition"), 48.0),
    Category("automotive", ("car charger", "dash cam", "tyre inflator", "seat cover", "phone mount", "wiper blades"),
             ("universal", "heavy-duty", "magnetic", "all-weather", "digital", "compact"),
             ("Roadster", "Autonix", "Drivo", "Motiva"),
             ("easy install", "fits most cars", "night vision", "12v", "quick release"), 30.0),
)

CATEGORY_NAMES: tuple[str, ...] = tuple(c.name for c in CATEGORIES)
FIRST_NAMES = ("Alex", "Sam", "Maria", "Jonas", "Lea", "Noah", "Emma", "Luca", "Sofia", "Mateo",
               "Olivia", "Liam", "Hanna", "Piotr", "Ines", "Erik", "Chloe", "Aoife", "Marco", "Nina")
LAST_NAMES = ("Smith", "Muller", "Martin", "de Vries", "Garcia", "Rossi", "Nowak", "Lindqvist",
              "Murphy", "Johnson", "Schmidt", "Bernard", "Jansen", "Lopez", "Bianchi", "Kowalski")
